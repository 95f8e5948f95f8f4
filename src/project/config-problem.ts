import { SluiceError } from "../errors.js";

/** One configuration problem, printed as `<file>: <path>: <message>`. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
  readonly line?: number | undefined;
}

/** Turns problems into the single error every command reports with exit code 2. */
export function configError(fileLabel: string, problems: readonly ConfigProblem[]): SluiceError {
  const lines = problems.map((p) => `${fileLabel}: ${p.path}: ${p.message}`);
  return new SluiceError("CONFIG_INVALID", lines[0] ?? `${fileLabel}: invalid`, {
    details: lines.slice(1),
    problems: problems.map((p) => ({
      file: fileLabel,
      path: p.path,
      code: "CONFIG_INVALID" as const,
      message: p.message,
      ...(p.line !== undefined ? { line: p.line } : {}),
    })),
  });
}
