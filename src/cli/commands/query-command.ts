import type { Command } from "commander";
import { SluiceError } from "../../errors.js";
import { queryBatches } from "../../query/query-batches.js";
import { type GlobalOptions, openProject } from "../command-context.js";
import { createOutput, csvHeader, csvRows, type Output, table } from "../output.js";

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
        const batches = queryBatches(ctx, sql, {
          versions: opts.version,
          timestamps: opts.timestamp,
          deltas: opts.delta,
          cwd: process.cwd(),
        });
        if (opts.json || opts.csv) await writeStreamed(batches, opts.json ? jsonArray : csvText);
        else await printTable(output, batches);
      },
    );
}

/** How a streamed format writes: text before the rows, one batch, text after. */
interface StreamFormat {
  start(columns: readonly string[]): string;
  rows(rows: readonly Record<string, unknown>[], columns: readonly string[], first: boolean): string;
  end: string;
}

/** `--json`: an array of row objects, written row batch by row batch. */
const jsonArray: StreamFormat = {
  start: () => "[",
  rows: (rows, _columns, first) =>
    rows
      .map(
        (row, i) =>
          `${first && i === 0 ? "\n  " : ",\n  "}${JSON.stringify(row, null, 2).replaceAll("\n", "\n  ")}`,
      )
      .join(""),
  end: "\n]\n",
};

/** `--csv`: a header, then the rows. */
const csvText: StreamFormat = {
  start: (columns) => csvHeader(columns),
  rows: (rows, columns) => csvRows(rows, columns),
  end: "",
};

/**
 * Writes the result as it arrives, waiting for stdout to drain when its buffer is full: memory holds one
 * batch whatever the result's size. Nothing is written before the first batch, so a query that fails to
 * start prints only its error.
 */
async function writeStreamed(
  batches: AsyncGenerator<{ columns: readonly string[]; rows: readonly Record<string, unknown>[] }>,
  format: StreamFormat,
): Promise<void> {
  let started = false;
  let wroteRow = false;
  for await (const { columns, rows } of batches) {
    let text = started ? "" : format.start(columns);
    started = true;
    text += format.rows(rows, columns, !wroteRow);
    wroteRow ||= rows.length > 0;
    const out = process.stdout;
    if (!out.write(text)) await drained(out);
    // The reader went away (`sluice query ... | head`): stop the query rather than read on for nobody.
    if (out.destroyed) return;
  }
  process.stdout.write(format.end);
}

/** The text table needs every row to size its columns: it is for people, `--csv`/`--json` for volume. */
async function printTable(
  output: Output,
  batches: AsyncGenerator<{ columns: readonly string[]; rows: readonly Record<string, unknown>[] }>,
): Promise<void> {
  let columns: readonly string[] = [];
  const rows: Record<string, unknown>[] = [];
  for await (const batch of batches) {
    columns = batch.columns;
    rows.push(...batch.rows);
  }
  output.line(table(rows, columns));
  output.line(`(${rows.length} row${rows.length === 1 ? "" : "s"})`);
}

/** Resolves when `out` can take more, or is gone (a closed pipe's EPIPE is handled by closed-output). */
function drained(out: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off("drain", done).off("close", done).off("error", done);
      resolve();
    };
    out.on("drain", done).on("close", done).on("error", done);
  });
}
