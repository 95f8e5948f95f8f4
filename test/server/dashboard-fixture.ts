import { addFile, makeProject, sluice } from "../support/cli.js";

/**
 * A project with a succeeded run that quarantined rows (one holding `<script>` in a value, emails
 * masked) and a failed run, loaded by the CLI into `warehouse` (duckdb:... or a postgres:// URL).
 */
export async function dashboardProject(warehouse: string): Promise<string> {
  const dir = makeProject(`warehouse: ${warehouse}
landing: landing
pipelines:
  orders:
    source: { path: "in/orders/*.csv" }
    columns:
      id: { type: bigint }
      email: { type: varchar, mask: email }
      note: { type: varchar }
    checks:
      - { rule: not_null, columns: [id] }
      - { rule: accepted_values, column: note, values: [ok] }
    max_failure_rate: 0.9
    target: { table: orders }
  strict:
    source: { path: "in/strict/*.csv" }
    checks: [{ rule: not_null, columns: [id] }]
    max_failure_rate: 0
    target: { table: strict_t }
`);
  addFile(
    dir,
    "landing/in/orders/a.csv",
    "id,email,note\n1,alice@example.com,ok\n2,bob@example.com,<script>alert(1)</script>\n,carol@example.com,ok\n",
  );
  addFile(dir, "landing/in/strict/s.csv", "id,v\n1,a\n,b\n");
  const run = await sluice(["run", "--json"], dir);
  if (run.code !== 1)
    throw new Error(`fixture run: expected one failed pipeline, got ${run.code}: ${run.stderr}`);
  addFile(dir, "landing/in/orders/b.csv", "id,email,note\n10,dan@example.com,ok\n");
  const second = await sluice(["run", "orders", "--json"], dir);
  if (second.code !== 0) throw new Error(`fixture run 2: ${second.stderr}`);
  return dir;
}
