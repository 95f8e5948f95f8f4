import { basename } from "node:path";
import type { Command } from "commander";
import { problemsOf, SluiceError } from "../../errors.js";
import { configError } from "../../project/config-problem.js";
import { foreignKeyProblems } from "../../project/validate-foreign-keys.js";
import type { ProjectContext } from "../../run/project-context.js";
import type { Warehouse } from "../../warehouse/warehouse.js";
import { type GlobalOptions, openProject } from "../command-context.js";
import { createOutput } from "../output.js";

/** `sluice validate [--json]` */
export function registerValidateCommand(program: Command): void {
  program
    .command("validate")
    .description("check sluice.yaml; each problem as <file>: <path.to.key>: <message>")
    .option("--json", "print JSON", false)
    .action(async (opts: { json: boolean }, cmd: Command) => {
      const output = createOutput(opts.json);
      try {
        // Pipelines whose named columns could not be checked against a landing file, and why.
        const unchecked: { pipeline: string; reason: string }[] = [];
        const ctx = await openProject(
          cmd.optsWithGlobals<GlobalOptions>(),
          output,
          "loads",
          (pipeline, reason) => unchecked.push({ pipeline, reason }),
        );
        const references = await referenceProblems(ctx);
        if (references.length > 0) throw configError("sluice.yaml", references);
        const names = Object.keys(ctx.project.config.pipelines);
        if (opts.json) {
          output.document({ valid: true, problems: [], pipelines: names, unchecked });
          return;
        }
        output.line(
          `${ctx.project.configFile}: valid (${names.length} pipeline${names.length === 1 ? "" : "s"}: ${names.join(", ")})`,
        );
        for (const u of unchecked) output.line(`  ${u.pipeline}: columns not checked: ${u.reason}`);
      } catch (error) {
        if (opts.json && error instanceof SluiceError && error.exitCode === 2) {
          // Each problem as { file, path, code, message, line? } plus `text`: the line a person reads.
          const lines = [error.message, ...error.details];
          const problems = problemsOf(
            error,
            basename(cmd.optsWithGlobals<GlobalOptions>().config ?? "sluice.yaml"),
          );
          output.document({
            valid: false,
            problems: problems.map((p, i) => ({
              ...p,
              text: lines[i] ?? `${p.file}: ${p.path}: ${p.message}`,
            })),
          });
          process.stderr.write(`${[error.message, ...error.details].join("\n")}\n`);
          process.exitCode = 2;
          return;
        }
        throw error;
      }
    });
}

/** Tables `foreign_key` checks reference, looked up in the warehouse (opened read-only, only if needed). */
async function referenceProblems(ctx: ProjectContext) {
  const { config } = ctx.project;
  if (!Object.values(config.pipelines).some((p) => p.checks.some((c) => c.rule === "foreign_key"))) return [];
  let warehouse: Warehouse | undefined;
  try {
    warehouse = await ctx.openWarehouse({ readOnly: true });
  } catch (error) {
    // No warehouse yet: only the tables pipelines load will exist.
    if (!(error instanceof SluiceError && /no warehouse yet/.test(error.message))) throw error;
  }
  try {
    return await foreignKeyProblems(config, async (table) => warehouse?.columnsOf(table));
  } finally {
    await warehouse?.close();
  }
}
