import { addFile, makeProject, sluice } from "../support/cli.js";

// Markup in a file name (it shows on the runs, run, quarantine and lineage pages) and in values; masked
// columns whose clear values must show nowhere; a value with a newline, quotes and a comma for the CSV.
export const FILE = "in/orders/<img src=x onerror=alert(2)>.csv";
export const SCRIPT = "<script>alert(1)</script>";
export const MULTILINE = 'line one\nline "two", end';
export const CLEAR = ["alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"];
export const SECRETS = ["TOPSECRET-1", "TOPSECRET-2", "TOPSECRET-3", "TOPSECRET-4"];

const csvField = (v: string) => `"${v.replaceAll('"', '""')}"`;

/**
 * A project whose runs hold markup in file names and values and masked columns (one run succeeded with
 * quarantined rows, one failed); returns its folder and the runs of `sluice run --json`.
 */
export async function hostileProject(): Promise<{
  dir: string;
  runs: { run_id: string; pipeline: string }[];
}> {
  const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  orders:
    source: { path: "in/orders/*.csv" }
    columns:
      id: { type: bigint }
      email: { type: varchar, mask: email }
      secret: { type: varchar, mask: redact }
      note: { type: varchar }
    checks:
      - { rule: not_null, columns: [id] }
      - { rule: accepted_values, column: note, values: [ok] }
    max_failure_rate: 0.9
    target: { table: orders }
  strict:
    source: { path: "in/strict/*.csv" }
    columns: { email: { type: varchar, mask: email } }
    checks: [{ rule: accepted_values, column: note, values: [ok] }]
    max_failure_rate: 0
    target: { table: strict_t }
`);
  const rows = [
    ["1", CLEAR[0]!, SECRETS[0]!, "ok"],
    ["2", CLEAR[1]!, SECRETS[1]!, SCRIPT],
    ["", CLEAR[2]!, SECRETS[2]!, "ok"],
    ["3", CLEAR[3]!, SECRETS[3]!, MULTILINE],
  ];
  addFile(
    dir,
    `landing/${FILE}`,
    `id,email,secret,note\n${rows.map((r) => r.map(csvField).join(",")).join("\n")}\n`,
  );
  addFile(
    dir,
    "landing/in/strict/<b onmouseover=alert(3)>.csv",
    `email,note\n${CLEAR[0]},${csvField(SCRIPT)}\n`,
  );
  const run = await sluice(["run", "--json"], dir);
  if (run.code !== 1)
    throw new Error(`hostile fixture: expected one failed pipeline, got ${run.code}: ${run.stderr}`);
  return { dir, runs: run.json<{ runs: { run_id: string; pipeline: string }[] }>().runs };
}

/** Every page of the dashboard for these runs. */
export function hostilePages(runs: readonly { run_id: string; pipeline: string }[]): string[] {
  const orders = runs.find((r) => r.pipeline === "orders")!.run_id;
  return [
    "/runs",
    "/runs?status=failed",
    ...runs.map((r) => `/runs/${r.run_id}`),
    "/quarantine?pipeline=orders",
    `/quarantine?pipeline=orders&run=${orders}`,
    "/quarantine?pipeline=strict",
    "/quality?pipeline=orders",
    "/quality?pipeline=strict",
    "/tables",
    "/tables/orders",
    `/tables/orders/rollback?to=${orders}`,
    "/lineage",
    "/health",
  ];
}
