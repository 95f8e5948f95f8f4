import { describe, expect, it } from "vitest";
import { makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";

/** An API-like document five levels deep: order → customer → address → geo, order → items → discounts. */
const orders = [
  {
    id: 1,
    customer: {
      name: "Ann",
      email: "ann@example.com",
      address: { city: "Oslo", geo: { lat: 59.9, lng: 10.7 } },
    },
    items: [
      { sku: "A-1", qty: 2, discounts: [{ code: "SPRING", pct: 10 }] },
      { sku: "B-2", qty: 1, discounts: [] },
    ],
    tags: ["new", "vip"],
  },
  {
    id: 2,
    customer: { name: "Bob", email: "bob@example.com", address: { city: "Bergen", geo: null } },
    items: [
      {
        sku: "C-3",
        qty: 5,
        discounts: [
          { code: "BULK", pct: 5 },
          { code: "VIP", pct: 2 },
        ],
      },
    ],
    tags: [],
  },
];

const jsonLines = (docs: readonly unknown[]) => `${docs.map((d) => JSON.stringify(d)).join("\n")}\n`;

const pipeline = (nested: string, extra = "") => `orders:
  source: { path: "in/*.json", format: json }
${nested ? `  nested: ${nested}\n` : ""}${extra}  target: { table: orders }`;

async function query(dir: string, sql: string): Promise<Record<string, unknown>[]> {
  const r = await sluice(["query", sql, "--json"], dir);
  expect(r.code, r.stderr).toBe(0);
  return r.json<Record<string, unknown>[]>();
}

async function run(dir: string, env: NodeJS.ProcessEnv = {}): Promise<RunJson["runs"][number]> {
  const r = await sluice(["run", "--json"], dir, { env });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return r.json<RunJson>().runs[0]!;
}

const columnsOf = async (dir: string, table: string) =>
  (
    await query(
      dir,
      `SELECT column_name AS c FROM information_schema.columns WHERE table_name = '${table}' ORDER BY ordinal_position`,
    )
  ).map((r) => String(r.c));

describe("nested JSON (nested: json | flatten | tables)", () => {
  it("json (the default) keeps nested values as JSON columns", async () => {
    const dir = makeProject(pipelineYaml(pipeline("")), { "landing/in/a.json": JSON.stringify(orders) });
    await run(dir);
    expect(await columnsOf(dir, "orders")).toEqual([
      "id",
      "customer",
      "items",
      "tags",
      "_sluice_run_id",
      "_sluice_source_file",
      "_sluice_loaded_at",
    ]);
    const rows = await query(
      dir,
      "SELECT customer->>'$.address.city' AS city, json_array_length(items) AS n FROM orders ORDER BY id",
    );
    expect(rows).toEqual([
      { city: "Oslo", n: 2 },
      { city: "Bergen", n: 1 },
    ]);
  });

  it("flatten turns objects into parent__child columns up to max_depth; arrays stay JSON", async () => {
    const dir = makeProject(pipelineYaml(pipeline("{ mode: flatten, max_depth: 3 }")), {
      "landing/in/a.json": jsonLines(orders),
    });
    await run(dir);
    expect(await columnsOf(dir, "orders")).toEqual([
      "id",
      "customer__name",
      "customer__email",
      "customer__address__city",
      // Three keys deep: geo is the max_depth-th key, kept as JSON.
      "customer__address__geo",
      "items",
      "tags",
      "_sluice_run_id",
      "_sluice_source_file",
      "_sluice_loaded_at",
    ]);
    const rows = await query(
      dir,
      "SELECT id, customer__address__city AS city, customer__address__geo->>'$.lat' AS lat, json_array_length(items) AS n FROM orders ORDER BY id",
    );
    expect(rows).toEqual([
      { id: 1, city: "Oslo", lat: "59.9", n: 2 },
      { id: 2, city: "Bergen", lat: null, n: 1 },
    ]);
  });

  it("flatten: checks, declared types and masks name nested paths; a mask inside an array masks it everywhere", async () => {
    const extra = `  columns:
    customer.email: { mask: email }
    customer.address.geo.lat: { type: "DECIMAL(6,2)" }
    items.discounts.code: { mask: redact }
  checks:
    - { rule: accepted_values, column: customer__address__city, values: [Oslo] }
  max_failure_rate: 0.9
`;
    const dir = makeProject(pipelineYaml(pipeline("{ mode: flatten }", extra)), {
      "landing/in/a.json": JSON.stringify(orders, null, 2),
    });
    const result = await run(dir, { SLUICE_MASK_SALT: "salt" });
    expect(result.rows).toMatchObject({ read: 2, loaded: 1, quarantined: 1 });
    const [row] = await query(
      dir,
      "SELECT customer__email AS email, typeof(customer__address__geo__lat) AS t, items::VARCHAR AS items FROM orders",
    );
    expect(row).toMatchObject({ email: "a***@example.com", t: "DECIMAL(6,2)" });
    expect(String(row!.items)).toContain('"code":"[REDACTED]"');
    expect(String(row!.items)).not.toContain("SPRING");
    const q = (await sluice(["quarantine", "orders", "--json"], dir)).json<
      { values: Record<string, unknown>; raw: string | null }[]
    >();
    expect(q).toHaveLength(1);
    const stored = JSON.stringify(q[0]);
    expect(stored).toContain("b***@example.com");
    for (const secret of ["bob@example.com", "BULK", "VIP"]) expect(stored).not.toContain(secret);
  });

  it("a mask on a nested path no record has fails the file, naming the paths it could mean", async () => {
    const extra = `  columns:
    items.skew: { mask: hash }
`;
    const dir = makeProject(pipelineYaml(pipeline("{ mode: flatten }", extra)), {
      "landing/in/a.json": JSON.stringify(orders),
    });
    const r = await sluice(["run", "--json"], dir, { env: { SLUICE_MASK_SALT: "salt" } });
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("items__skew");
    expect(r.stdout + r.stderr).toContain("items__sku");
  });

  it("sluice validate refuses a nested mode it does not know, naming the pipeline and key", async () => {
    const dir = makeProject(pipelineYaml(pipeline("{ mode: explode }")), {});
    const r = await sluice(["validate"], dir);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("pipelines.orders.nested.mode");
  });
});
