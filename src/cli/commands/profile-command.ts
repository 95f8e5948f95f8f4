import type { Command } from "commander";
import { SluiceError } from "../../errors.js";
import type { ColumnProfile } from "../../plan/profile.js";
import type { RunProfile } from "../../run/run-profile.js";
import { type GlobalOptions, openProject } from "../command-context.js";
import { createOutput, table } from "../output.js";

/** `sluice profile <table> [--json]` — the latest profile of a table's loads and its change since the previous. */
export function registerProfileCommand(program: Command): void {
  program
    .command("profile")
    .description(
      "per-column profile of the latest load into a table, and its change against the previous load",
    )
    .argument("<table>", "target table (warehouse or lake)")
    .option("--json", "print JSON", false)
    .action(async (tableName: string, opts: { json: boolean }, cmd: Command) => {
      const output = createOutput(opts.json);
      const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output, "reads");
      const warehouse = await ctx.openWarehouse({ readOnly: true });
      let rows: Record<string, unknown>[];
      try {
        rows = await warehouse.query(
          // A failed run may still have published some of its files (a load is recorded): its profile counts.
          "SELECT run_id, started_at, report FROM sluice.runs WHERE status = 'succeeded' OR run_id IN (SELECT run_id FROM sluice.loads) ORDER BY started_at DESC LIMIT 200",
        );
      } finally {
        await warehouse.close();
      }
      const profiles = rows
        .map((r) => {
          const report = (typeof r.report === "string" ? JSON.parse(r.report) : r.report) as {
            profile?: RunProfile;
            anomalies?: string[];
          };
          return {
            runId: String(r.run_id),
            at: String(r.started_at),
            profile: report.profile,
            anomalies: report.anomalies ?? [],
          };
        })
        .filter((p) => p.profile?.table === tableName);
      const latest = profiles[0];
      if (!latest?.profile)
        throw new SluiceError("RUN_NOT_FOUND", `no profiled load of table ${tableName} yet`);
      const previous = profiles[1]?.profile;
      const columns = Object.entries(latest.profile.columns).map(([name, p]) => ({
        column: name,
        ...p,
        change: previous?.columns[name]
          ? describeChange(p, previous.columns[name]!, latest.profile!.rows, previous.rows)
          : "new",
      }));
      if (opts.json) {
        output.document({
          table: tableName,
          run_id: latest.runId,
          rows: latest.profile.rows,
          previous: profiles[1] ? { run_id: profiles[1].runId, rows: previous?.rows ?? null } : null,
          columns,
          anomalies: latest.anomalies,
        });
        return;
      }
      output.line(
        `table ${tableName} — latest load ${latest.runId}: ${latest.profile.rows} rows${previous ? ` (previous load: ${previous.rows})` : ""}`,
      );
      output.line(
        table(
          columns.map((c) => ({
            column: c.column,
            nulls: c.nulls,
            distinct: c.distinct,
            min: c.min,
            max: c.max,
            mean: c.mean === null ? null : Number(c.mean.toPrecision(6)),
            stddev: c.stddev === null ? null : Number(c.stddev.toPrecision(6)),
            length: c.min_length === null ? null : `${c.min_length}..${c.max_length}`,
            change: c.change,
          })),
        ),
      );
      for (const a of latest.anomalies) output.line(`anomaly: ${a}`);
    });
}

function describeChange(
  now: ColumnProfile,
  before: ColumnProfile,
  rowsNow: number,
  rowsBefore: number,
): string {
  const parts: string[] = [];
  const share = (n: number, rows: number) => (rows === 0 ? 0 : n / rows);
  const nullDelta = share(now.nulls, rowsNow) - share(before.nulls, rowsBefore);
  if (Math.abs(nullDelta) >= 0.001)
    parts.push(`nulls ${nullDelta > 0 ? "+" : ""}${(nullDelta * 100).toFixed(1)}pp`);
  if (now.mean !== null && before.mean !== null && before.mean !== 0) {
    const pct = ((now.mean - before.mean) / Math.abs(before.mean)) * 100;
    if (Math.abs(pct) >= 0.1) parts.push(`mean ${pct > 0 ? "+" : ""}${pct.toFixed(1)}%`);
  }
  if (now.distinct !== before.distinct) parts.push(`distinct ${before.distinct}→${now.distinct}`);
  return parts.length > 0 ? parts.join(", ") : "unchanged";
}
