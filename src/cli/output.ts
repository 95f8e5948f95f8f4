import { SluiceError } from "../errors.js";
import { redactUrls } from "../redact.js";

/** How a command prints: machine JSON on stdout, or text for a person. */
export interface Output {
  readonly json: boolean;
  /** Prints the command's one JSON document. */
  document(value: unknown): void;
  /** A line of human output on stdout (suppressed in JSON mode). */
  line(text?: string): void;
  /** A notice on stderr (kept in JSON mode: stdout stays clean). */
  notice(text: string): void;
}

/** Creates the output for a command invocation. */
export function createOutput(json: boolean): Output {
  return {
    json,
    document: (value) => process.stdout.write(`${JSON.stringify(value, jsonReplacer, 2)}\n`),
    line: (text = "") => {
      if (!json) process.stdout.write(`${text}\n`);
    },
    notice: (text) => process.stderr.write(`${redactUrls(text)}\n`),
  };
}

function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? Number(value) : value;
}

/**
 * Renders rows as an aligned text table.
 *
 * @example
 * table([{ a: 1, b: "x" }]) // "a  b\n-  -\n1  x"
 */
export function table(rows: readonly Record<string, unknown>[], columns?: readonly string[]): string {
  const cols = columns ?? Object.keys(rows[0] ?? {});
  if (cols.length === 0) return "(no rows)";
  const cell = (v: unknown): string => {
    if (v === null || v === undefined) return "";
    const text = typeof v === "object" ? JSON.stringify(v) : String(v);
    return text.length > 60 ? `${text.slice(0, 57)}...` : text.replace(/\s+/g, " ");
  };
  const body = rows.map((r) => cols.map((c) => cell(r[c])));
  const widths = cols.map((c, i) => Math.max(c.length, ...body.map((r) => r[i]!.length)));
  const fmt = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [fmt(cols), fmt(widths.map((w) => "-".repeat(w))), ...body.map(fmt)].join("\n");
}

/** The CSV header line of `columns` (RFC 4180 quoting). */
export function csvHeader(columns: readonly string[]): string {
  return `${columns.map(csvCell).join(",")}\n`;
}

/** CSV lines of rows, in `columns` order (RFC 4180 quoting), each ending with a newline. */
export function csvRows(rows: readonly Record<string, unknown>[], columns: readonly string[]): string {
  let text = "";
  for (const row of rows) text += `${columns.map((c) => csvCell(row[c])).join(",")}\n`;
  return text;
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  const text = typeof v === "object" ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** Prints an error the way every command does and returns the exit code. */
export function reportError(error: unknown, json: boolean): number {
  const e = error instanceof SluiceError ? error : undefined;
  const code = e?.code ?? "INTERNAL";
  // URLs lose their credentials and query strings, whatever produced the message.
  const message = redactUrls(
    e ? e.message : error instanceof Error ? `unexpected error: ${error.message}` : String(error),
  );
  const details = (e?.details ?? []).map(redactUrls);
  if (json) {
    process.stdout.write(`${JSON.stringify({ error: { code, message, details } }, null, 2)}\n`);
  }
  process.stderr.write(`error: ${message}\n`);
  for (const detail of details) process.stderr.write(`error: ${detail}\n`);
  if (!e && process.env.SLUICE_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  return e?.exitCode ?? 1;
}
