import { closeSync, openSync, readSync } from "node:fs";
import { isFileSource } from "../config/schema.js";
import { queryNumber } from "../engine/duckdb-query.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import type { RawCsvCopy } from "../warehouse/warehouse.js";
import type { Batch } from "./batch.js";
import type { Gate } from "./profile-gate.js";
import type { RunContext } from "./run-context.js";
import type { Attempt } from "./unit.js";

/** Engine types a file's columns may have to be copied as they are (the warehouse checks its own side). */
const PLAIN_TYPES: ReadonlySet<string> = new Set([
  "BIGINT",
  "DOUBLE",
  "DATE",
  "TIMESTAMP",
  "VARCHAR",
  "BOOLEAN",
]);
/** Date and timestamp formats read as PostgreSQL reads them (undefined: ISO 8601). */
const PLAIN_DATE_FORMATS: ReadonlySet<string | undefined> = new Set([undefined, "%Y-%m-%d"]);
const PLAIN_TIMESTAMP_FORMATS: ReadonlySet<string | undefined> = new Set([
  undefined,
  "%Y-%m-%d %H:%M:%S",
  "%Y-%m-%dT%H:%M:%S",
]);

/**
 * Whether a single-pass publish may let the warehouse copy its CSV file as it is (see
 * PublishBatch.rawCopy), and how: one plain file (UTF-8, not compressed, one-byte delimiter and quote,
 * quotes doubled to escape them (or no escape), no skipped lines, comments or null strings, no declared columns or
 * date formats other than ISO 8601) whose rows go to the target untransformed (append or replace, no
 * checks, dedupe, derive or masks), profiled beside the write (the profile's read of the file is
 * what the copy is checked against). Undefined otherwise.
 */
export function rawCopyPlan(
  run: RunContext,
  attempt: Attempt,
  batch: Batch,
  gate: Gate,
): RawCsvCopy | undefined {
  const { pipeline } = attempt.mode;
  // SLUICE_RAW_COPY=0: always the engine's export (tests and benchmarks compare the two).
  if (process.env.SLUICE_RAW_COPY === "0") return undefined;
  const work = batch.deferred[0];
  const deferred = work?.staged?.deferred;
  if (
    !work ||
    !deferred ||
    batch.deferred.length !== 1 ||
    batch.loaded.length !== 1 ||
    !gate.alongsideWrite ||
    !attempt.mode.singlePass ||
    (pipeline.target.mode !== "append" && pipeline.target.mode !== "replace") ||
    pipeline.checks.length > 0 ||
    pipeline.dedupe !== undefined ||
    Object.keys(pipeline.derive).length > 0 ||
    Object.values(pipeline.columns).some((c) => c.mask !== undefined) ||
    !isFileSource(pipeline.source) ||
    pipeline.source.options?.null !== undefined
  ) {
    return undefined;
  }
  const { dialect, path } = deferred.late;
  const columns = work.staged!.columns;
  const plain =
    dialect.encoding === "utf-8" &&
    dialect.skip === 0 &&
    !dialect.comment &&
    oneByte(dialect.delimiter) &&
    oneByte(dialect.quote) &&
    // No escape: DuckDB rejects a doubled quote inside a quoted value, which PostgreSQL reads as one.
    (dialect.escape === dialect.quote || dialect.escape === "") &&
    dialect.delimiter !== dialect.quote &&
    !/\.(gz|gzip|zst|zstd)$/i.test(path) &&
    PLAIN_DATE_FORMATS.has(deferred.dateFormat) &&
    PLAIN_TIMESTAMP_FORMATS.has(deferred.timestampFormat) &&
    columns.length === deferred.late.columns &&
    columns.every((c) => !c.declared && PLAIN_TYPES.has(c.type.toUpperCase()));
  if (!plain) return undefined;
  const dated = columns.filter((c) => /^(DATE|TIMESTAMP)$/i.test(c.type)).map((c) => c.name);
  return {
    path,
    delimiter: dialect.delimiter,
    quote: dialect.quote,
    header: dialect.header,
    columns: columns.map((c) => c.name),
    timestamps: columns.some((c) => c.type.toUpperCase() === "TIMESTAMP"),
    estimatedRows: estimatedRows(path, work.report.size),
    verdict: async (outcome) => {
      const differs =
        "refused" in outcome
          ? outcome.refused
          : await differsFromEngine(run, attempt, outcome.stored, dated, deferred.rejectsTable);
      run.logger.info(
        differs === undefined ? { rows: "stored" in outcome ? outcome.stored : 0 } : { reason: differs },
        differs === undefined ? "copied the file as it is" : "the file is copied the usual way",
      );
      return differs;
    },
  };
}

function oneByte(char: string): boolean {
  return char.length === 1 && char.charCodeAt(0) < 128 && char !== "\n" && char !== "\r";
}

/**
 * Why the rows the server stored from the file may not be the engine's rows, after the profile (the
 * engine's read of the same file) ran: a row the engine rejected, another row count, or a date before
 * the year 1000 (PostgreSQL reads a year of one or two digits as this century's, DuckDB as written).
 */
async function differsFromEngine(
  run: RunContext,
  attempt: Attempt,
  stored: number,
  dated: readonly string[],
  rejectsTable: string,
): Promise<string | undefined> {
  const profile = attempt.report.profile;
  if (!profile) return "the file was not profiled";
  if (profile.rows !== stored) return `the engine read ${profile.rows} rows, the server ${stored}`;
  const rejects = await queryNumber(
    run.con,
    `SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ${quoteLiteral(rejectsTable)}`,
  );
  if (rejects > 0 && (await queryNumber(run.con, `SELECT count(*) FROM ${quoteIdent(rejectsTable)}`)) > 0) {
    return "the engine found malformed rows";
  }
  const early = dated.find((name) => {
    const min = profile.columns[name]?.min;
    return min !== null && min !== undefined && !/^[1-9]\d{3}-/.test(min);
  });
  return early === undefined
    ? undefined
    : `${early} holds a date before the year 1000 (${profile.columns[early]?.min})`;
}

/**
 * The rows of a CSV file guessed from its size and the lines of 64 KB at its start, middle and end
 * (lines often grow along a file, as its ids do).
 */
function estimatedRows(path: string, size: number): number {
  const span = Math.min(size, 1 << 16);
  const buffer = Buffer.alloc(span);
  const fd = openSync(path, "r");
  try {
    let bytes = 0;
    let lines = 0;
    for (const start of new Set([0, Math.floor((size - span) / 2), size - span])) {
      const read = readSync(fd, buffer, 0, span, start);
      bytes += read;
      for (let at = buffer.indexOf(10); at >= 0 && at < read; at = buffer.indexOf(10, at + 1)) lines++;
    }
    return lines === 0 ? 1 : Math.round((size / bytes) * lines);
  } finally {
    closeSync(fd);
  }
}
