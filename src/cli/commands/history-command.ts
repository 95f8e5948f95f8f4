import type { Command } from "commander";
import { type GlobalOptions, openProject, readCatalog } from "../command-context.js";
import { createOutput, table } from "../output.js";

/** `sluice history <table> [--json]` */
export function registerHistoryCommand(program: Command): void {
  program
    .command("history")
    .description(
      "every load of a warehouse table, newest first: run, mode, rows inserted/updated/deleted, time",
    )
    .argument("<table>", "warehouse table (schema.table or table)")
    .option("--json", "print JSON", false)
    .action(async (name: string, opts: { json: boolean }, cmd: Command) => {
      const output = createOutput(opts.json);
      const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output, "reads");
      // Newest first, like every list Sluice prints.
      const loads = [...(await readCatalog(ctx, (warehouse) => warehouse.history(name)))].reverse();
      if (opts.json) {
        output.document({ table: name, loads });
        return;
      }
      if (loads.length === 0) {
        output.line(`no loads of ${name}`);
        return;
      }
      output.line(
        table(
          loads.map((l) => ({
            run_id: l.run_id,
            pipeline: l.pipeline,
            mode: l.mode,
            inserted: l.inserted,
            updated: l.updated,
            deleted: l.deleted,
            loaded_at: l.loaded_at,
            state: l.rolled_back_by ? `rolled back by ${l.rolled_back_by}` : "",
          })),
        ),
      );
    });
}
