import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { SluiceError } from "../errors.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { copyOut } from "../warehouse/postgres-copy-out.js";
import type { PostgresField } from "../warehouse/postgres-incremental-sql.js";
import { inPostgresTransaction } from "../warehouse/postgres-transaction.js";

/** PostgreSQL type oids of the integer types a key range can split (int2, int4, int8). */
const INTEGER_OIDS = new Set([21, 23, 20]);

/** How a big extract is split: an integer column and how many ranges are read at once. */
export interface ParallelSplit {
  readonly key: string;
  readonly parts: number;
}

/**
 * The WHERE conditions of `parts` key ranges covering `[min, max]` (NULL keys go with the first, the
 * last is open-ended), over the quoted key `key`. One condition when there is nothing to split.
 *
 * @example
 * keyRanges('"id"', 1n, 100n, 2) // => ['("id" < 51 OR "id" IS NULL)', '"id" >= 51']
 */
export function keyRanges(
  key: string,
  min: bigint | undefined,
  max: bigint | undefined,
  parts: number,
): string[] {
  if (min === undefined || max === undefined || max - min + 1n < BigInt(parts)) return ["true"];
  const step = (max - min + 1n + BigInt(parts) - 1n) / BigInt(parts);
  return Array.from({ length: parts }, (_, i) => {
    const lo = min + step * BigInt(i);
    const hi = lo + step;
    if (i === 0) return `(${key} < ${hi} OR ${key} IS NULL)`;
    if (i === parts - 1) return `${key} >= ${lo}`;
    return `${key} >= ${lo} AND ${key} < ${hi}`;
  });
}

/**
 * Copies an extract as key ranges read at once, every one inside the snapshot of the caller's open
 * REPEATABLE READ transaction on `client` (`pg_export_snapshot`, then `SET TRANSACTION SNAPSHOT` on
 * each extra connection): together they read exactly what one COPY would. `copySql(where)` is the
 * COPY statement for one range; the ranges go to `files` (one per range; fewer ranges than files when
 * the table is small). Returns the files written.
 *
 * @example
 * const written = await copyKeyRanges(client, connect, fields, base, split, (w) => `COPY (...) TO STDOUT`, files);
 */
export async function copyKeyRanges(
  client: pg.ClientBase,
  connect: () => Promise<{ client: pg.ClientBase; close(): Promise<void> }>,
  fields: readonly PostgresField[],
  relation: string,
  split: ParallelSplit,
  copySql: (where: string) => string,
  files: readonly string[],
): Promise<string[]> {
  const field = fields.find((f) => f.name === split.key);
  if (!field || !INTEGER_OIDS.has(field.dataTypeID)) {
    throw new SluiceError(
      "CONFIG_INVALID",
      `source.parallel.key: ${field ? `column ${split.key} is not an integer column (smallint, integer or bigint)` : `no column ${split.key} in the source (its columns: ${fields.map((f) => f.name).join(", ")})`}`,
    );
  }
  const key = quoteIdent(split.key);
  const [bounds] = (
    await client.query(`SELECT min(${key})::text AS lo, max(${key})::text AS hi FROM ${relation}`)
  ).rows as { lo: string | null; hi: string | null }[];
  const toBig = (v: string | null | undefined) => (v === null || v === undefined ? undefined : BigInt(v));
  const ranges = keyRanges(key, toBig(bounds?.lo), toBig(bounds?.hi), split.parts);
  const copy = (on: pg.ClientBase, where: string, file: string) =>
    pipeline(on.query(copyOut(copySql(where))), createWriteStream(file, { highWaterMark: 1 << 20 }));
  if (ranges.length === 1) {
    await copy(client, ranges[0]!, files[0]!);
    return [files[0]!];
  }
  const snapshot = String((await client.query("SELECT pg_export_snapshot() AS s")).rows[0]?.s);
  const extra: { client: pg.ClientBase; close(): Promise<void> }[] = [];
  try {
    for (let i = 1; i < ranges.length; i++) extra.push(await connect());
    const reads = ranges.map((where, i) => {
      if (i === 0) return copy(client, where, files[0]!);
      const on = extra[i - 1]!.client;
      return inPostgresTransaction(
        on,
        async () => {
          await on.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshot)}`);
          await on.query("SET LOCAL DateStyle = 'ISO, YMD'");
          await copy(on, where, files[i]!);
        },
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
      );
    });
    // Every range settles before the snapshot's transaction may end (or the error is thrown).
    const settled = await Promise.allSettled(reads);
    const failed = settled.find((s) => s.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return files.slice(0, ranges.length);
  } finally {
    for (const e of extra) await e.close();
  }
}
