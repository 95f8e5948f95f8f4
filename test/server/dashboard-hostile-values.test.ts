import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addFile, makeProject, sluice } from "../support/cli.js";
import { type ServedDashboard, startServed } from "../support/dashboard.js";

// Markup in a file name (it shows on the runs, run, quarantine and lineage pages) and in values; masked
// columns whose clear values must show nowhere; a value with a newline, quotes and a comma for the CSV.
const FILE = "in/orders/<img src=x onerror=alert(2)>.csv";
const SCRIPT = "<script>alert(1)</script>";
const MULTILINE = 'line one\nline "two", end';
const CLEAR = ["alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"];
const SECRETS = ["TOPSECRET-1", "TOPSECRET-2", "TOPSECRET-3", "TOPSECRET-4"];

const csvField = (v: string) => `"${v.replaceAll('"', '""')}"`;

/** RFC 4180: quoted fields may hold commas, doubled quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\r" && text[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i++;
    } else field += ch;
  }
  if (field !== "" || row.length > 0) rows.push([...row, field]);
  return rows;
}

describe("hostile values on every page, API call and export", () => {
  let served: ServedDashboard;
  let runIds: string[];
  let ordersRun: string;
  const get = (path: string) => fetch(`${served.url}${path}`);

  beforeAll(async () => {
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
    expect(run.code, run.stderr).toBe(1);
    const runs = run.json<{ runs: { run_id: string; pipeline: string }[] }>().runs;
    runIds = runs.map((r) => r.run_id);
    ordersRun = runs.find((r) => r.pipeline === "orders")!.run_id;
    served = await startServed(dir, ["serve", "--port", "0"]);
  });
  afterAll(async () => {
    if (served) expect((await served.stop()).code).toBe(0);
  });

  const pages = () => [
    "/runs",
    "/runs?status=failed",
    ...runIds.map((id) => `/runs/${id}`),
    "/quarantine?pipeline=orders",
    `/quarantine?pipeline=orders&run=${ordersRun}`,
    "/quarantine?pipeline=strict",
    "/quality?pipeline=orders",
    "/quality?pipeline=strict",
    "/tables",
    "/tables/orders",
    `/tables/orders/rollback?to=${ordersRun}`,
    "/lineage",
    "/health",
  ];
  const api = () => [
    "/api/runs",
    ...runIds.map((id) => `/api/runs/${id}`),
    "/api/quarantine?pipeline=orders",
    "/api/quarantine?pipeline=strict",
    "/api/quality?pipeline=orders",
    "/api/tables",
    "/api/tables/orders/history",
    "/api/lineage",
    "/api/health",
    "/api/live",
    "/metrics",
    "/quarantine.csv?pipeline=orders",
    "/quarantine.csv?pipeline=strict",
  ];

  it("every page escapes markup from file names and values; its only scripts are the dashboard's", async () => {
    for (const path of pages()) {
      const r = await get(path);
      expect(r.status, path).toBe(200);
      const body = await r.text();
      expect(body, path).not.toContain("<script>alert");
      expect(body, path).not.toContain("<img src=x");
      expect(body, path).not.toContain("<b onmouseover");
      for (const tag of body.match(/<script[^>]*>/g) ?? []) {
        expect(tag, path).toMatch(/^<script (src="\/assets\/[\w.]+"|type="application\/json" id="[\w-]+")>$/);
      }
    }
    // The markup is there, as text: the file name on its run's page, the value on the quarantine page.
    expect(await (await get(`/runs/${ordersRun}`)).text()).toContain("&lt;img src=x onerror=alert(2)&gt;");
    expect(await (await get("/quarantine?pipeline=orders")).text()).toContain(
      "&lt;script&gt;alert(1)&lt;/script&gt;",
    );
  });

  it("a masked column's clear value is on no page, in no API answer, not in /metrics nor the CSV", async () => {
    for (const path of [...pages(), ...api()]) {
      const r = await get(path);
      expect(r.status, path).toBe(200);
      const body = await r.text();
      for (const clear of [...CLEAR, ...SECRETS]) expect(body, `${path}: ${clear}`).not.toContain(clear);
    }
    const rows = (
      (await (await get("/api/quarantine?pipeline=orders")).json()) as {
        rows: { values: Record<string, unknown> }[];
      }
    ).rows;
    expect(rows.map((r) => [r.values.email, r.values.secret]).sort()).toEqual([
      ["b***@example.com", "[REDACTED]"],
      ["c***@example.com", "[REDACTED]"],
      ["d***@example.com", "[REDACTED]"],
    ]);
  });

  it("the CSV export keeps a value with a newline, quotes and a comma whole, one record per row", async () => {
    const text = await (await get("/quarantine.csv?pipeline=orders")).text();
    const [header, ...records] = parseCsv(text);
    expect(header).toEqual(
      expect.arrayContaining(["run_id", "file", "line", "rules", "reasons", "note", "raw"]),
    );
    expect(records).toHaveLength(3);
    for (const record of records) expect(record, record.join(",")).toHaveLength(header!.length);
    const note = header!.indexOf("note");
    const file = header!.indexOf("file");
    expect(records.map((r) => r[note]).sort()).toEqual([SCRIPT, MULTILINE, "ok"].sort());
    expect(new Set(records.map((r) => r[file]))).toEqual(new Set([FILE]));
  });
});
