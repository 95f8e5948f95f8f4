import type { QuarantineRecord } from "../catalog/quarantine.js";

/** One CSV cell; a leading = + - @ is defused so a spreadsheet never runs a quarantined value as a formula. */
function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  let text = typeof value === "object" ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * Quarantined rows as CSV with a header: run_id, file, line, rules, reasons, each value column (masked
 * as stored), raw.
 *
 * @example
 * quarantineCsv(rows) // "run_id,file,line,rules,reasons,email,raw\r\n..."
 */
export function quarantineCsv(rows: readonly QuarantineRecord[]): string {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r.values ?? {})))];
  const header = ["run_id", "file", "line", "rules", "reasons", ...columns, "raw"];
  const lines = rows.map((r) =>
    [
      r.run_id,
      r.file,
      r.line,
      r.rules.join("|"),
      r.reasons.join("; "),
      ...columns.map((c) => r.values?.[c]),
      r.values ? null : r.raw,
    ]
      .map(csvCell)
      .join(","),
  );
  return `${[header.map(csvCell).join(","), ...lines].join("\r\n")}\r\n`;
}
