import type { Command } from "commander";
import { SluiceError } from "../../errors.js";
import { newRunId } from "../../run/run-id.js";
import { type GlobalOptions, openProject } from "../command-context.js";
import { createOutput } from "../output.js";

/** `sluice rollback <table> --to <run_id> [--json]` */
export function registerRollbackCommand(program: Command): void {
  program
    .command("rollback")
    .description("restore a warehouse table exactly as it was after a run (recorded as a run)")
    .argument("<table>", "warehouse table (schema.table or table)")
    .requiredOption("--to <run_id>", "the load to go back to (see `sluice history <table>`)")
    .option("--json", "print JSON", false)
    .action(async (name: string, opts: { to: string; json: boolean }, cmd: Command) => {
      const output = createOutput(opts.json);
      if (!opts.to) throw new SluiceError("USAGE", "--to <run_id> is required");
      // Rows restored from the undo log were masked when loaded: no salt, no landing sample.
      const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output, "reads");
      const warehouse = await ctx.openWarehouse();
      try {
        const result = await warehouse.rollback(name, opts.to, newRunId(new Date()));
        if (opts.json) {
          output.document(result);
          return;
        }
        const children = (result.children ?? []).map(
          (c) => `; child table ${c.table}: removed ${c.deleted} rows, restored ${c.restored}`,
        );
        output.line(
          (result.undone.length === 0
            ? `${name} is already as it was after run ${opts.to}; recorded as run ${result.run_id}`
            : `${name} rolled back to run ${opts.to}: undid ${result.undone.length} load${result.undone.length === 1 ? "" : "s"} (${result.undone.join(", ")}), removed ${result.deleted} rows, restored ${result.restored}; recorded as run ${result.run_id}`) +
            children.join(""),
        );
      } finally {
        await warehouse.close();
      }
    });
}
