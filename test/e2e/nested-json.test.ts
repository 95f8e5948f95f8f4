import { writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";
import { jsonLines, nestedOrders } from "../support/nested-orders.js";

const orders = nestedOrders;

const pipeline = (nested: string, extra = "", format = "json", target = "{ table: orders }") => `orders:
  source: { path: "in/*.${format}", format: ${format} }
${nested ? `  nested: ${nested}\n` : ""}${extra}  target: ${target}`;

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

  describe("tables", () => {
    const tables = async (dir: string) => ({
      orders: await query(
        dir,
        "SELECT id, customer__address__city AS city, _sluice_id AS rid FROM orders ORDER BY id",
      ),
      items: await query(
        dir,
        "SELECT o.id, i.sku, i.qty, i._sluice_list_idx AS idx FROM orders__items i JOIN orders o ON o._sluice_id = i._sluice_parent_id ORDER BY o.id, idx",
      ),
      discounts: await query(
        dir,
        "SELECT o.id, i.sku, d.code, d.pct, d._sluice_list_idx AS idx FROM orders__items__discounts d JOIN orders__items i ON i._sluice_id = d._sluice_parent_id JOIN orders o ON o._sluice_id = d._sluice_root_id ORDER BY o.id, i.sku, idx",
      ),
      tags: await query(
        dir,
        "SELECT o.id, t.value FROM orders__tags t JOIN orders o ON o._sluice_id = t._sluice_parent_id ORDER BY o.id, t._sluice_list_idx",
      ),
    });

    it("splits arrays into child tables linked by generated keys, in one transaction", async () => {
      const dir = makeProject(pipelineYaml(pipeline("{ mode: tables, max_depth: 5 }")), {
        "landing/in/a.json": JSON.stringify(orders, null, 2),
      });
      const result = await run(dir);
      expect(result.rows).toMatchObject({ read: 2, loaded: 2 });
      expect(await columnsOf(dir, "orders__items")).toEqual([
        "_sluice_id",
        "_sluice_parent_id",
        "_sluice_root_id",
        "_sluice_list_idx",
        "sku",
        "qty",
        "_sluice_run_id",
        "_sluice_source_file",
        "_sluice_loaded_at",
      ]);
      const t = await tables(dir);
      expect(t.orders.map((o) => [o.id, o.city])).toEqual([
        [1, "Oslo"],
        [2, "Bergen"],
      ]);
      expect(t.items).toEqual([
        { id: 1, sku: "A-1", qty: 2, idx: 0 },
        { id: 1, sku: "B-2", qty: 1, idx: 1 },
        { id: 2, sku: "C-3", qty: 5, idx: 0 },
      ]);
      expect(t.discounts).toEqual([
        { id: 1, sku: "A-1", code: "SPRING", pct: 10, idx: 0 },
        { id: 2, sku: "C-3", code: "BULK", pct: 5, idx: 0 },
        { id: 2, sku: "C-3", code: "VIP", pct: 2, idx: 1 },
      ]);
      expect(t.tags).toEqual([
        { id: 1, value: "new" },
        { id: 1, value: "vip" },
      ]);
      // The geo object (four keys deep) is flattened; nothing else of the document is left as JSON.
      expect(await columnsOf(dir, "orders")).toContain("customer__address__geo__lat");
      expect(await columnsOf(dir, "orders")).not.toContain("items");
      const history = await sluice(["history", "orders__items", "--json"], dir);
      expect(history.json<{ loads: { inserted: number }[] }>().loads.map((h) => h.inserted)).toEqual([3]);
    });

    it("a quarantined parent takes its children with it; a mask on a child path masks the child table and the quarantine", async () => {
      const extra = `  columns:
    items.discounts.code: { mask: hash }
  checks:
    - { rule: accepted_values, column: customer__address__city, values: [Oslo] }
  max_failure_rate: 0.9
`;
      const dir = makeProject(pipelineYaml(pipeline("{ mode: tables }", extra, "jsonl")), {
        "landing/in/a.jsonl": jsonLines(orders),
      });
      const result = await run(dir, { SLUICE_MASK_SALT: "salt" });
      expect(result.rows).toMatchObject({ read: 2, loaded: 1, quarantined: 1 });
      const t = await tables(dir);
      expect(t.items.map((i) => i.sku)).toEqual(["A-1", "B-2"]);
      expect(t.discounts.map((d) => [d.sku, String(d.code).length])).toEqual([["A-1", 64]]);
      const dump = JSON.stringify(await query(dir, "SELECT * FROM orders__items__discounts"));
      expect(dump).not.toContain("SPRING");
      const q = (await sluice(["quarantine", "orders", "--json"], dir)).stdout;
      expect(q).toContain("Bergen");
      for (const secret of ["BULK", "VIP"]) expect(q).not.toContain(secret);
    });

    // merge, replace, delete_insert and rollback of a failed publish: test/warehouse/nested-tables-suite.ts,
    // run on every warehouse.

    it("--force loads a file again without doubling its children", async () => {
      const dir = makeProject(pipelineYaml(pipeline("{ mode: tables }")), {
        "landing/in/a.json": JSON.stringify(orders),
      });
      await run(dir);
      writeFileSync(`${dir}/landing/in/a-again.json`, JSON.stringify(orders));
      const r = await sluice(["run", "--force", "--json"], dir);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.json<RunJson>().runs[0]!.files[0]!.status).toBe("loaded");
      const counts = await query(
        dir,
        "SELECT (SELECT count(*) FROM orders)::INT AS o, (SELECT count(*) FROM orders__items)::INT AS i, (SELECT count(*) FROM orders__items__discounts)::INT AS d",
      );
      expect(counts).toEqual([{ o: 2, i: 3, d: 3 }]);
      const t = await tables(dir);
      expect(t.items.map((i) => i.sku)).toEqual(["A-1", "B-2", "C-3"]);
    });

    it("sluice validate names what tables cannot do", async () => {
      const cases: [string, string][] = [
        [
          pipelineYaml(pipeline("{ mode: tables }", "", "json", "{ table: orders, mode: scd2, keys: [id] }")),
          "not scd2",
        ],
        [
          pipelineYaml(pipeline("{ mode: flatten }").replace("format: json", "format: csv")),
          "JSON, JSON-lines and Avro",
        ],
      ];
      for (const [yaml, message] of cases) {
        const dir = makeProject(yaml, {});
        const r = await sluice(["validate"], dir);
        expect(r.code).toBe(2);
        expect(r.stdout + r.stderr).toContain("pipelines.orders.nested.mode");
        expect(r.stdout + r.stderr).toContain(message);
      }
    });
  });
});
