import type { Command } from "commander";
import { asSluiceError, SluiceError } from "../../errors.js";
import { type GlobalOptions, openProject } from "../command-context.js";
import { createOutput, table, toCsv } from "../output.js";

/** `sluice query "<sql>" [--json | --csv]` */
export function registerQueryCommand(program: Command): void {
  program
    .command("query")
    .description("read-only SQL against the warehouse")
    .argument("<sql>", "a SELECT (or any read-only statement)")
    .option("--json", "print an array of row objects", false)
    .option("--csv", "print CSV with a header", false)
    .action(async (sql: string, opts: { json: boolean; csv: boolean }, cmd: Command) => {
      if (opts.json && opts.csv) throw new SluiceError("USAGE", "choose one of --json and --csv");
      const output = createOutput(opts.json);
      const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output);
      const warehouse = await ctx.openWarehouse({ readOnly: true });
      try {
        const { columns, rows } = await warehouse.queryWithColumns(sql).catch((error: unknown) => {
          throw new SluiceError("QUERY_FAILED", asSluiceError(error).message, { cause: error });
        });
        if (opts.json) output.document(rows);
        else if (opts.csv) process.stdout.write(toCsv(rows, columns));
        else {
          output.line(table(rows, columns));
          output.line(`(${rows.length} row${rows.length === 1 ? "" : "s"})`);
        }
      } finally {
        await warehouse.close();
      }
    });
}
