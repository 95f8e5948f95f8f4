import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { PoolClient } from "pg";
import type { TypedColumn } from "../plan/schema-plan.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { CsvBytesCheck } from "./csv-bytes-check.js";
import { copyQuery, serverErrorFirst } from "./postgres-copy.js";
import type { RawCsvCopy } from "./warehouse.js";

/**
 * Engine types whose text forms DuckDB's reader and PostgreSQL's input functions turn into the same
 * value wherever both accept them (checked value by value in test/postgres-raw-copy.test.ts), with the
 * PostgreSQL type the target must have for them. Others (decimals, times, time zones, lists) are
 * copied the usual way.
 */
const SAME_TEXT_FORMS: ReadonlyMap<string, readonly string[]> = new Map([
  ["BIGINT", ["bigint"]],
  ["DOUBLE", ["double precision"]],
  ["DATE", ["date"]],
  ["TIMESTAMP", ["timestamp", "timestamp without time zone"]],
  ["VARCHAR", ["text"]],
  ["BOOLEAN", ["boolean"]],
]);

/** Whether the copied columns are exactly the file's, in its order, of types both readers read alike. */
export function rawCopyFits(
  raw: RawCsvCopy,
  copied: readonly (TypedColumn & { readonly engineType: string })[],
): boolean {
  return (
    copied.length === raw.columns.length &&
    copied.every(
      (c, i) =>
        c.name === raw.columns[i] &&
        (SAME_TEXT_FORMS.get(c.engineType.toUpperCase()) ?? []).includes(c.type.toLowerCase()),
    )
  );
}

/** The file was seen to be read differently by the two readers; the stream stops with it. */
class ReadDifferently extends Error {}

/**
 * Streams the CSV file of a single-pass append as it is into `COPY <table> FROM STDIN (FORMAT csv)`:
 * PostgreSQL parses the file once, and the engine's work beside the write (`beside`, the profile that
 * reads the same file) runs meanwhile instead of after an export. All of it inside a savepoint; the rows
 * are kept only when the bytes showed nothing the two readers read differently (see CsvBytesCheck), the
 * server accepted every value and `raw.verdict` finds the engine's read agreeing (no malformed row, the
 * same row count). Otherwise the savepoint is rolled back and undefined returned: the caller copies the
 * rows the usual way, once `beside` has settled. Returns the rows stored.
 *
 * @example
 * const stored = await copyCsvAsIs(client, '"public"."orders"', raw, columns, () => startProfile());
 */
export async function copyCsvAsIs(
  client: PoolClient,
  table: string,
  raw: RawCsvCopy,
  columns: readonly TypedColumn[],
  beside: () => Promise<unknown> | undefined,
): Promise<number | undefined> {
  const names = columns.map((c) => quoteIdent(c.name)).join(", ");
  // Quoted empty values are NULL as in DuckDB's reader (FORCE_NULL), not empty strings.
  const copy = `COPY ${table} (${names}) FROM STDIN (FORMAT csv, HEADER ${raw.header}, DELIMITER ${quoteLiteral(raw.delimiter)}, QUOTE ${quoteLiteral(raw.quote)}, FORCE_NULL (${names}))`;
  await client.query("SAVEPOINT sluice_raw_copy");
  const besideWork = beside();
  const check = new CsvBytesCheck(raw.delimiter, raw.quote, raw.timestamps, raw.header);
  let outcome: { stored: number } | { refused: string };
  try {
    outcome = { stored: await streamChecked(client, copy, raw.path, check) };
  } catch (error) {
    const refused = refusal(error, check);
    if (refused === undefined) {
      await besideWork?.catch(() => undefined);
      throw error;
    }
    outcome = { refused };
  }
  await besideWork?.catch(() => undefined);
  const differs = await raw.verdict(outcome);
  if (differs === undefined && "stored" in outcome) {
    await client.query("RELEASE SAVEPOINT sluice_raw_copy");
    return outcome.stored;
  }
  await client.query("ROLLBACK TO SAVEPOINT sluice_raw_copy");
  return undefined;
}

/** The file's bytes into `copySql`, checked on the way; returns the rows the server stored. */
async function streamChecked(client: PoolClient, copySql: string, path: string, check: CsvBytesCheck) {
  const copy = copyQuery(client, copySql);
  async function* chunks(): AsyncGenerator<Buffer> {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
      if (!check.push(chunk as Buffer)) throw new ReadDifferently(check.reason);
      yield chunk as Buffer;
    }
    if (!check.end()) throw new ReadDifferently(check.reason);
  }
  await serverErrorFirst([copy], () => pipeline(Readable.from(chunks()), copy));
  return copy.rowCount;
}

/**
 * Why the copy stopped, where the usual copy may do better: the bytes showed a difference, or the server
 * refused a value (SQLSTATE class 22, data exception: a NUL byte, a number out of range, a blank line);
 * undefined for anything else (a lost connection), which is the publish's failure.
 */
function refusal(error: unknown, check: CsvBytesCheck): string | undefined {
  if (error instanceof ReadDifferently || check.reason !== undefined) return check.reason ?? String(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code.startsWith("22"))
    return `the server refused it: ${(error as Error).message}`;
  return undefined;
}
