import type { Command } from "commander";
import { SluiceError } from "../../errors.js";
import { type GlobalOptions, openProject } from "../command-context.js";
import { createOutput, table } from "../output.js";

/** `sluice workers [--json]` */
export function registerWorkersCommand(program: Command): void {
  program
    .command("workers")
    .description("workers of a postgres:// warehouse: state, heartbeat, claims and throughput")
    .option("--lease <duration>", "a worker silent this long shows as lost (default 30s, as `sluice worker`)")
    .option("--json", "print JSON", false)
    .action(async (opts: { lease?: string; json: boolean }, cmd: Command) => {
      const output = createOutput(opts.json);
      const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output, "reads");
      if (ctx.warehouseFile) {
        throw new SluiceError(
          "CONFIG_INVALID",
          "sluice.yaml: warehouse: workers (scale-out) need a PostgreSQL warehouse (postgres://...); the embedded DuckDB warehouse has none",
        );
      }
      const { parseDuration } = await import("../../durations.js");
      const leaseSeconds = opts.lease ? parseDuration(opts.lease, "--lease") / 1000 : 30;
      const { readWorkers } = await import("../../scale/read-workers.js");
      const workers = await readWorkers(ctx.project.config.warehouse, leaseSeconds);
      if (opts.json) {
        output.document({ workers });
        return;
      }
      if (workers.length === 0) {
        output.line("no workers yet");
        return;
      }
      output.line(
        table(
          workers.map((w) => ({
            worker: w.worker_id,
            state: w.state,
            heartbeat: w.heartbeat_at,
            claims: w.claims
              .map((c) => `${c.pipeline}:${c.files.length === 1 ? c.files[0] : `${c.files.length} files`}`)
              .join(", "),
            units: w.units,
            files: w.files,
            "files/s": w.files_per_second,
          })),
        ),
      );
    });
}
