import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServedDashboard, startServed } from "../support/dashboard.js";
import { CLEAR, FILE, hostilePages, hostileProject, MULTILINE, SCRIPT, SECRETS } from "./hostile-fixture.js";

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
  let project: Awaited<ReturnType<typeof hostileProject>>;
  let runIds: string[];
  let ordersRun: string;
  const get = (path: string) => fetch(`${served.url}${path}`);

  beforeAll(async () => {
    project = await hostileProject();
    runIds = project.runs.map((r) => r.run_id);
    ordersRun = project.runs.find((r) => r.pipeline === "orders")!.run_id;
    served = await startServed(project.dir, ["serve", "--port", "0"]);
  });
  afterAll(async () => {
    if (served) expect((await served.stop()).code).toBe(0);
  });

  const pages = () => hostilePages(project.runs);
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
