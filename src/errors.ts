/**
 * The one error type Sluice raises. `code` is stable (tests, JSON output and
 * alerting match on it); `message` speaks to the user; `transient` tells the
 * engine whether retrying may help.
 *
 * @example
 * throw new SluiceError("FILE_VANISHED", `in/a.csv: the file disappeared during the run`, { transient: true });
 */
export class SluiceError extends Error {
  readonly code: SluiceErrorCode;
  readonly transient: boolean;
  /** Extra lines shown under the message (e.g. every config problem). */
  readonly details: readonly string[];
  /** The configuration problems behind a CONFIG_INVALID error, one per line of message and details. */
  readonly problems: readonly Problem[];

  constructor(
    code: SluiceErrorCode,
    message: string,
    options: {
      cause?: unknown;
      transient?: boolean;
      details?: readonly string[];
      problems?: readonly Problem[];
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SluiceError";
    this.code = code;
    this.transient = options.transient ?? false;
    this.details = options.details ?? [];
    this.problems = options.problems ?? [];
  }

  /** Exit code per the CLI contract: 2 for usage/configuration problems, 1 otherwise. */
  get exitCode(): 1 | 2 {
    return USAGE_CODES.has(this.code) ? 2 : 1;
  }
}

/** One configuration problem in machine form (`sluice validate --json`, the library's `validate()`). */
export interface Problem {
  /** The project file it is in. */
  readonly file: string;
  /** The key path, e.g. `pipelines.orders.columns.email`, or `(root)`. */
  readonly path: string;
  /** The error code of the whole (`CONFIG_INVALID`, `CONFIG_NOT_FOUND`, ...). */
  readonly code: SluiceErrorCode;
  readonly message: string;
  /** 1-based line in the file, when known. */
  readonly line?: number;
}

export type SluiceErrorCode =
  | "CONFIG_NOT_FOUND"
  | "CONFIG_INVALID"
  | "USAGE"
  | "PIPELINE_UNKNOWN"
  | "FILE_NOT_FOUND"
  | "FILE_UNREADABLE"
  | "FILE_VANISHED"
  | "FILE_CHANGED"
  | "FILE_UNPARSEABLE"
  | "FILE_CORRUPT"
  | "MALFORMED_ROWS"
  | "THRESHOLD_EXCEEDED"
  | "CHECK_FATAL"
  | "SCHEMA_CHANGE"
  | "KEY_VIOLATION"
  | "EXPRESSION_INVALID"
  | "WAREHOUSE_LOCKED"
  | "WAREHOUSE_ERROR"
  | "QUERY_FAILED"
  | "STORAGE_ERROR"
  | "CIRCUIT_OPEN"
  | "LAKE_ERROR"
  | "LAKE_UNSUPPORTED_FEATURE"
  | "LAKE_CONFLICT"
  | "STREAM_ERROR"
  | "STREAM_CONFLICT"
  | "PUBLISH_RACED"
  | "RUN_NOT_FOUND"
  | "INTERNAL";

const USAGE_CODES: ReadonlySet<SluiceErrorCode> = new Set([
  "CONFIG_NOT_FOUND",
  "CONFIG_INVALID",
  "USAGE",
  "PIPELINE_UNKNOWN",
  // A run id or table that names nothing recorded is a usage error, like an unknown pipeline.
  "RUN_NOT_FOUND",
]);

/** Wraps anything thrown into a SluiceError, keeping SluiceErrors as they are. */
export function asSluiceError(
  error: unknown,
  code: SluiceErrorCode = "INTERNAL",
  context?: string,
): SluiceError {
  if (error instanceof SluiceError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SluiceError(code, context ? `${context}: ${firstLine(message)}` : firstLine(message), {
    cause: error,
  });
}

/** First meaningful line of an engine message (DuckDB messages carry long diagnostics after it). */
export function firstLine(message: string): string {
  const line = message.split("\n").find((l) => l.trim() !== "") ?? message;
  return line.trim();
}

/**
 * The problems of a usage or configuration error in machine form: its structured problems, else each of
 * its lines read as `<file>: <path>: <message>` (a line without a file and key path is the whole file's).
 *
 * @example
 * problemsOf(error) // [{ file: "sluice.yaml", path: "pipelines.orders", code: "CONFIG_INVALID", message: "..." }]
 */
export function problemsOf(error: SluiceError, file = "sluice.yaml"): Problem[] {
  if (error.problems.length > 0) return [...error.problems];
  return [error.message, ...error.details].map((line) => {
    const m = /^([^\s:][^:]*\.ya?ml): ((?:pipelines\.|\(root\)|[a-z_]+\b)[^:]*): (.*)$/s.exec(line);
    return m
      ? { file: m[1]!, path: m[2]!, code: error.code, message: m[3]! }
      : { file, path: "(root)", code: error.code, message: line };
  });
}
