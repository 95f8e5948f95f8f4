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
  return new SluiceError("CONFIG_INVALID", lines[0] ?? `${fileLabel}: invalid`, { details: lines.slice(1) });
}
