import type { DuckDBConnection } from "@duckdb/node-api";
import type { Command } from "commander";
import { jsonRows, parseProblem } from "../../engine/duckdb-query.js";
import { explainRefusal } from "../../engine/outside-project.js";
import { asSluiceError, SluiceError } from "../../errors.js";
import { type GlobalOptions, openProject } from "../command-context.js";
import { createOutput, type Output, table, toCsv } from "../output.js";
import { openQueryEngine } from "../query-engine.js";
import { deltaFolders, missingLakeTableError, mountLakeViews } from "../query-lake-views.js";

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** `sluice query "<sql>" [--json | --csv] [--version T=N] [--timestamp T=ISO] [--delta NAME=PATH]` */
export function registerQueryCommand(program: Command): void {
  program
    .command("query")
    .description("read-only SQL against the warehouse and the lake (lake tables as lake.<table>)")
    .argument("<sql>", "a SELECT (or any read-only statement)")
    .option("--json", "print an array of row objects", false)
    .option("--csv", "print CSV with a header", false)
    .option("--version <table=N>", "read lake table <table> as of Delta version N (repeatable)", collect, [])
    .option(
      "--timestamp <table=ISO>",
      "read lake table <table> as of the last commit at or before an ISO-8601 time (repeatable)",
      collect,
      [],
    )
    .option(
      "--delta <name=path>",
      "mount any Delta table folder as the view <name> (repeatable)",
      collect,
      [],
    )
    .action(
      async (
        sql: string,
        opts: { json: boolean; csv: boolean; version: string[]; timestamp: string[]; delta: string[] },
        cmd: Command,
      ) => {
        if (opts.json && opts.csv) throw new SluiceError("USAGE", "choose one of --json and --csv");
        const output = createOutput(opts.json);
        const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output, "reads");
        const usesLake =
          opts.version.length + opts.timestamp.length + opts.delta.length > 0 || /\blake\s*\./i.test(sql);
        if (ctx.warehouseFile === undefined && !usesLake) {
          // PostgreSQL warehouse: the SQL runs there, in a read-only transaction.
          const warehouse = await ctx.openWarehouse({ readOnly: true });
          try {
            const { columns, rows } = await warehouse.queryWithColumns(sql).catch((error: unknown) => {
              throw new SluiceError("QUERY_FAILED", asSluiceError(error).message, { cause: error });
            });
            print(output, rows, columns, opts.csv);
          } finally {
            await warehouse.close();
          }
          return;
        }
        const engine = await openQueryEngine(ctx, { directories: deltaFolders(opts.delta, process.cwd()) });
        let cleanup: (() => Promise<void>) | undefined;
        try {
          // Parsing needs no tables: a refused statement is refused before the lake is mounted.
          await refuseWrites(engine.con, sql);
          cleanup = await mountLakeViews(engine.con, ctx, {
            sql,
            versions: opts.version,
            timestamps: opts.timestamp,
            deltas: opts.delta,
            cwd: process.cwd(),
          });
          const reader = await engine.con.runAndReadAll(sql).catch(async (error: unknown) => {
            const message = asSluiceError(error).message;
            const lakeError = await missingLakeTableError(ctx, sql, message);
            if (lakeError) throw lakeError;
            const hint = engine.hasWarehouse ? "" : " (no warehouse yet: run `sluice run` first)";
            throw new SluiceError("QUERY_FAILED", `${explainRefusal(message)}${hint}`, { cause: error });
          });
          print(output, jsonRows(reader), reader.columnNames(), opts.csv);
        } finally {
          await cleanup?.();
          engine.close();
        }
      },
    );
}

/**
 * The warehouse is attached read-only, but DuckDB SQL can also write files (`COPY ... TO`, `EXPORT`),
 * attach other databases, change settings or install extensions: `sluice query` runs one query
 * (`SELECT`, `WITH`, `FROM`, `VALUES`, `DESCRIBE`, `SHOW`, `SUMMARIZE`), optionally under `EXPLAIN`, and
 * refuses anything else before running it. The SQL is only parsed (`json_serialize_sql` accepts queries
 * alone), never bound: binding `EXPORT DATABASE` already creates its folder.
 */
async function refuseWrites(con: DuckDBConnection, sql: string): Promise<void> {
  // Splitting into statements only parses them.
  const { count } = await con.extractStatements(sql).catch((error: unknown) => {
    throw new SluiceError("QUERY_FAILED", asSluiceError(error).message, { cause: error });
  });
  if (count !== 1) {
    throw new SluiceError(
      "QUERY_FAILED",
      `the SQL holds ${count} statements; sluice query runs one statement at a time (nothing was run)`,
    );
  }
  const query = sql.replace(/^\s*explain(\s+analyze)?\b/i, "");
  const problem = await parseProblem(con, query);
  if (problem) {
    if (!/only select statements/i.test(problem)) throw new SluiceError("QUERY_FAILED", problem);
    const kind = (/^\s*([A-Za-z]+)/.exec(query)?.[1] ?? "such").toUpperCase();
    throw new SluiceError(
      "QUERY_FAILED",
      `sluice query runs read-only queries (SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN); ${/^[AEIOU]/.test(kind) ? "an" : "a"} ${kind} statement was refused (nothing was run)`,
    );
  }
}

function print(
  output: Output,
  rows: Record<string, unknown>[],
  columns: readonly string[],
  csv: boolean,
): void {
  if (output.json) output.document(rows);
  else if (csv) process.stdout.write(toCsv(rows, columns));
  else {
    output.line(table(rows, columns));
    output.line(`(${rows.length} row${rows.length === 1 ? "" : "s"})`);
  }
}
