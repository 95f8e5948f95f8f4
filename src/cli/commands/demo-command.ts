import { existsSync } from "node:fs";
import { cp, mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { SluiceError } from "../../errors.js";
import { loadProject } from "../../project/load-config.js";
import { createProjectContext } from "../../run/project-context.js";
import { runProject } from "../../runner/run-project.js";
import { cliName } from "../cli-name.js";
import { createOutput, table } from "../output.js";

/**
 * The package's examples/quickstart: the nearest one above this module (the CLI runs both bundled, from
 * dist/sluice.js, and as separate modules, from dist/cli/commands/).
 */
function quickstartFolder(): string {
  for (let at = new URL("./", import.meta.url); ; at = new URL("../", at)) {
    const candidate = fileURLToPath(new URL("examples/quickstart/sluice.yaml", at));
    if (existsSync(candidate)) return dirname(candidate);
    if (fileURLToPath(at) === fileURLToPath(new URL("../", at))) {
      throw new SluiceError(
        "USAGE",
        "the demo project (examples/quickstart) is not installed with this copy of Sluice",
      );
    }
  }
}

/** `sluice demo` — runs examples/quickstart end to end in a temporary folder. */
export function registerDemoCommand(program: Command): void {
  program
    .command("demo")
    .description("run examples/quickstart end to end in a temporary folder")
    .option("--keep <dir>", "use this folder instead of a temporary one")
    .action(async (opts: { keep?: string }) => {
      const output = createOutput(false);
      const example = quickstartFolder();
      const dir = opts.keep ?? (await mkdtemp(join(tmpdir(), "sluice-demo-")));
      await cp(example, dir, { recursive: true, filter: (src) => !/\.duckdb(\.wal)?$/.test(src) });
      output.line(`Sluice demo in ${dir}`);
      const project = await loadProject({ configPath: join(dir, "sluice.yaml") });
      const ctx = createProjectContext(project, { notice: output.notice });
      const reports = await runProject(ctx);
      output.line();
      for (const r of reports) {
        output.line(
          `${r.pipeline}: ${r.status} — ${r.files.length} files, read ${r.rows.read}, loaded ${r.rows.loaded}, quarantined ${r.rows.quarantined} (malformed ${r.rows.malformed})`,
        );
      }
      const warehouse = await ctx.openWarehouse({ readOnly: true });
      try {
        output.line("\nLoaded tables:");
        output.line(
          table(
            await warehouse.query(
              "SELECT table_name AS \"table\", estimated_size AS rows, column_count AS columns FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY 1",
            ),
          ),
        );
        output.line("\nRevenue by month (from the orders table):");
        output.line(
          table(
            await warehouse.query(
              "SELECT strftime(order_date, '%Y-%m') AS month, count(*) AS orders, sum(amount) AS revenue FROM orders GROUP BY 1 ORDER BY 1",
            ),
          ),
        );
        output.line("\nA few quarantined rows (sluice quarantine <pipeline> shows all):");
        output.line(
          table(
            await warehouse.query(
              "SELECT file, line, array_to_string(reasons, '; ') AS reason FROM sluice.quarantine ORDER BY file, line LIMIT 5",
            ),
          ),
        );
      } finally {
        await warehouse.close();
      }
      const archived = await listFiles(join(dir, "landing", "archive"));
      output.line(`\nArchived source files (${archived.length}):`);
      for (const f of archived) output.line(`  ${f}`);
      // --config rather than `cd`: `npx sluice` finds the package from the current folder only.
      const sluice = `${cliName()} --config ${join(dir, "sluice.yaml")}`;
      output.line(`\nTry: ${sluice} runs`);
      output.line(`     ${sluice} query "select status, count(*) from orders group by 1"`);
      process.exitCode = reports.some((r) => r.status === "failed") ? 1 : 0;
    });
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}
