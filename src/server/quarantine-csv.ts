import type { QuarantineRecord } from "../catalog/quarantine.js";

/** One CSV cell; a leading = + - @ is defused so a spreadsheet never runs a quarantined value as a formula. */
function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  let text = typeof value === "object" ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The CSV header of an export with these value columns. Pure. */
function csvHeader(columns: readonly string[]): string {
  return `${["run_id", "file", "line", "rules", "reasons", ...columns, "raw"].map(csvCell).join(",")}\r\n`;
}

/** Rows as CSV lines under {@link csvHeader}'s columns. Pure. */
function csvLines(rows: readonly QuarantineRecord[], columns: readonly string[]): string {
  return rows
    .map(
      (r) =>
        `${[
          r.run_id,
          r.file,
          r.line,
          r.rules.join("|"),
          r.reasons.join("; "),
          ...columns.map((c) => r.values?.[c]),
          r.values ? null : r.raw,
        ]
          .map(csvCell)
          .join(",")}\r\n`,
    )
    .join("");
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
  return csvHeader(columns) + csvLines(rows, columns);
}

/**
 * The same CSV as {@link quarantineCsv}, as a byte stream fed a page of rows at a time: the header's
 * columns are known before the first row (every row's value columns, in order of appearance), and only
 * the page being written is held. A page is read when the client takes the previous one; a client that
 * goes away ends the reads.
 *
 * @example
 * return c.body(quarantineCsvStream(columns, quarantineBatches(gate.read, filter)));
 */
export function quarantineCsvStream(
  columns: readonly string[],
  batches: AsyncGenerator<readonly QuarantineRecord[]>,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let headerSent = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (!headerSent) {
          headerSent = true;
          controller.enqueue(encoder.encode(csvHeader(columns)));
          return;
        }
        const next = await batches.next();
        if (next.done) controller.close();
        else controller.enqueue(encoder.encode(csvLines(next.value, columns)));
      },
      async cancel() {
        await batches.return(undefined);
      },
    },
    // One page waits at most: the next is read once the client has taken it.
    { highWaterMark: 1 },
  );
}
