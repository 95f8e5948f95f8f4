import { readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { expect } from "vitest";
import { jsonLines, nestedOrders } from "../support/nested-orders.js";
import type { SuiteProject, SuiteTest } from "./warehouse-suite.js";

/** The parent and its child tables, joined by their generated keys, values as numbers and text. */
async function tables(p: SuiteProject) {
  const rows = async (sql: string) =>
    (await p.query(sql)).map((r) =>
      Object.fromEntries(
        Object.entries(r).map(([k, v]) => [
          k,
          typeof v === "bigint" || /^(id|qty|pct|idx)$/.test(k) ? Number(v) : v,
        ]),
      ),
    );
  return {
    orders: await rows(
      "SELECT id, customer__address__city AS city, _sluice_id AS rid FROM orders ORDER BY id",
    ),
    items: await rows(
      "SELECT o.id, i.sku, i.qty, i._sluice_list_idx AS idx FROM orders__items i JOIN orders o ON o._sluice_id = i._sluice_parent_id ORDER BY o.id, idx",
    ),
    discounts: await rows(
      "SELECT o.id, i.sku, d.code, d.pct, d._sluice_list_idx AS idx FROM orders__items__discounts d JOIN orders__items i ON i._sluice_id = d._sluice_parent_id JOIN orders o ON o._sluice_id = d._sluice_root_id ORDER BY o.id, i.sku, idx",
    ),
    tags: await rows(
      "SELECT o.id, t.value FROM orders__tags t JOIN orders o ON o._sluice_id = t._sluice_parent_id ORDER BY o.id, t._sluice_list_idx",
    ),
  };
}

const count = async (p: SuiteProject, table: string) =>
  Number((await p.query(`SELECT CAST(count(*) AS INTEGER) AS n FROM ${table}`))[0]!.n);

const ordersPipeline = (target: string, extra = "") => `orders:
  source: { path: "in/*.jsonl" }
  nested: { mode: tables, max_depth: 5 }
${extra}  target: ${target}`;

/**
 * `nested: json | tables` on every warehouse: child tables written in the publish transaction, masks
 * inside JSON paths, each write mode, `--force`, and a failed publish leaving parent and children as
 * they were (see docs/nested-json.md).
 */
export function nestedTablesCases(test: SuiteTest, warehouse: string): void {
  test("nested json keeps nested values in the warehouse's JSON type", async (make) => {
    const p = await make(`orders:
  source: { path: "in/*.jsonl" }
  target: { table: orders }`);
    p.add("in/a.jsonl", jsonLines(nestedOrders));
    expect((await p.run()).status).toBe("succeeded");
    const types = await p.query(
      "SELECT column_name AS c, data_type AS t FROM information_schema.columns WHERE table_name = 'orders' AND column_name IN ('customer', 'items') ORDER BY column_name",
    );
    const json = warehouse === "postgres" ? "jsonb" : "JSON";
    expect(types).toEqual([
      { c: "customer", t: json },
      { c: "items", t: json },
    ]);
  });

  test("nested tables: arrays become child tables linked by generated keys; masks reach inside; quarantined parents take their children", async (make) => {
    const p = await make(
      ordersPipeline(
        "{ table: orders }",
        `  columns:
    items.discounts.code: { mask: hash }
  checks:
    - { rule: accepted_values, column: customer__address__city, values: [Oslo] }
  max_failure_rate: 0.9
`,
      ),
    );
    p.add("in/a.jsonl", jsonLines(nestedOrders));
    const r = await p.run();
    expect(r.status, r.error ?? "").toBe("succeeded");
    expect(r.rows).toMatchObject({ read: 2, loaded: 1, quarantined: 1 });
    const columns = await p.query(
      "SELECT column_name AS c FROM information_schema.columns WHERE table_name = 'orders__items' ORDER BY ordinal_position",
    );
    expect(columns.map((c) => c.c)).toEqual([
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
    const t = await tables(p);
    expect(t.orders.map((o) => [o.id, o.city])).toEqual([[1, "Oslo"]]);
    expect(t.items).toEqual([
      { id: 1, sku: "A-1", qty: 2, idx: 0 },
      { id: 1, sku: "B-2", qty: 1, idx: 1 },
    ]);
    expect(t.discounts.map((d) => [d.sku, String(d.code).length, d.pct])).toEqual([["A-1", 64, 10]]);
    expect(t.tags).toEqual([
      { id: 1, value: "new" },
      { id: 1, value: "vip" },
    ]);
    expect(JSON.stringify(await p.query("SELECT * FROM orders__items__discounts"))).not.toContain("SPRING");
    expect((await p.history("orders__items")).map((h) => Number(h.inserted))).toEqual([2]);
  });

  test("nested tables: merge replaces the children of merged parents, replace and delete_insert those of replaced ones", async (make) => {
    const changed = {
      ...nestedOrders[0]!,
      tags: [],
      items: [{ sku: "A-1", qty: 3, discounts: [{ code: "SUMMER", pct: 15 }] }],
    };
    const merge = await make(ordersPipeline("{ table: orders, mode: merge, keys: [id] }"));
    merge.add("in/a.jsonl", jsonLines(nestedOrders));
    await merge.run();
    const before = await tables(merge);
    merge.add("in/b.jsonl", jsonLines([changed]));
    expect((await merge.run()).status).toBe("succeeded");
    const after = await tables(merge);
    // Merged on its keys, a parent keeps its generated key; its children are the batch's.
    expect(after.orders.map((o) => o.rid)).toEqual(before.orders.map((o) => o.rid));
    expect(after.items).toEqual([
      { id: 1, sku: "A-1", qty: 3, idx: 0 },
      { id: 2, sku: "C-3", qty: 5, idx: 0 },
    ]);
    expect(after.discounts.map((d) => [d.id, d.code])).toEqual([
      [1, "SUMMER"],
      [2, "BULK"],
      [2, "VIP"],
    ]);
    expect(after.tags).toEqual([]);

    const replace = await make(ordersPipeline("{ table: orders, mode: replace }"));
    replace.add("in/a.jsonl", jsonLines(nestedOrders));
    await replace.run();
    replace.add("in/b.jsonl", jsonLines([{ id: 9, items: [{ sku: "N-9", qty: 1 }] }]));
    expect((await replace.run()).status).toBe("succeeded");
    expect((await tables(replace)).items).toEqual([{ id: 9, sku: "N-9", qty: 1, idx: 0 }]);
    expect(await count(replace, "orders__items__discounts")).toBe(0);
    expect(await count(replace, "orders__tags")).toBe(0);

    const byDay = await make(ordersPipeline("{ table: orders, mode: delete_insert, partition_by: [day] }"));
    const day = (d: string, docs: typeof nestedOrders) => jsonLines(docs.map((o) => ({ ...o, day: d })));
    byDay.add("in/a.jsonl", day("mon", nestedOrders.slice(0, 1)) + day("tue", nestedOrders.slice(1)));
    await byDay.run();
    byDay.add("in/b.jsonl", day("mon", [{ ...changed, id: 3 }]));
    expect((await byDay.run()).status).toBe("succeeded");
    expect((await tables(byDay)).items).toEqual([
      { id: 2, sku: "C-3", qty: 5, idx: 0 },
      { id: 3, sku: "A-1", qty: 3, idx: 0 },
    ]);
  });

  test("nested tables: --force loads a file again without doubling its children", async (make) => {
    const p = await make(ordersPipeline("{ table: orders }"));
    p.add("in/a.jsonl", jsonLines(nestedOrders));
    await p.run();
    // The same content under another name: --force loads it again in place of the first load.
    p.add("in/a-again.jsonl", jsonLines(nestedOrders));
    const again = await p.run({ force: true });
    expect(again.files[0]!.status).toBe("loaded");
    expect([
      await count(p, "orders"),
      await count(p, "orders__items"),
      await count(p, "orders__items__discounts"),
    ]).toEqual([2, 3, 3]);
    expect((await tables(p)).items.map((i) => i.sku)).toEqual(["A-1", "B-2", "C-3"]);
  });

  test("nested tables: a child table write that fails rolls back the parent's too", async (make) => {
    const p = await make(
      ordersPipeline("{ table: orders, mode: merge, keys: [id] }", "  schema_evolution: freeze\n"),
    );
    p.add("in/a.jsonl", jsonLines(nestedOrders));
    await p.run();
    const before = JSON.stringify(await tables(p));
    // The parent's columns are unchanged; an item gains a column, which freeze refuses in the child write.
    p.add(
      "in/b.jsonl",
      jsonLines([
        {
          ...nestedOrders[0]!,
          customer: { ...nestedOrders[0]!.customer, name: "Annie" },
          items: [{ sku: "A-1", qty: 6, colour: "red", discounts: [] }],
        },
      ]),
    );
    const r = await p.run();
    expect(r.status).toBe("failed");
    expect(r.error).toContain("colour");
    expect(JSON.stringify(await tables(p))).toBe(before);
    // The parent's row was rewritten in the transaction before the child write failed: undone with it.
    expect(await p.query("SELECT customer__name AS n FROM orders WHERE id = 1")).toEqual([{ n: "Ann" }]);
  });

  test("nested tables: child tables are indexed on their root link on PostgreSQL (created when missing), not on DuckDB", async (make) => {
    const p = await make(ordersPipeline("{ table: orders, mode: merge, keys: [id] }"));
    p.add("in/a.jsonl", jsonLines(nestedOrders));
    expect((await p.run()).status).toBe("succeeded");
    const children = ["orders__items", "orders__items__discounts", "orders__tags"];
    const indexed = async () =>
      warehouse === "postgres"
        ? (
            await p.query(
              "SELECT tablename AS t FROM pg_indexes WHERE schemaname = 'public' AND indexdef LIKE '%(_sluice_root_id)' ORDER BY 1",
            )
          ).map((r) => r.t)
        : (await p.query("SELECT table_name AS t FROM duckdb_indexes() ORDER BY 1")).map((r) => r.t);
    if (warehouse !== "postgres") {
      // Measured: an ART index doubles the cost of appending child rows and does not speed the delete.
      expect(await indexed()).toEqual([]);
      return;
    }
    expect(await indexed()).toEqual(children);
    // A child table written before the index existed: the next publish that deletes from it adds it.
    const url = JSON.parse(readFileSync(join(p.dir, "sluice.yaml"), "utf8").split("\n")[0]!.slice(11));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'orders__items' AND indexdef LIKE '%(_sluice_root_id)'",
      );
      await client.query(`DROP INDEX ${rows[0]!.indexname}`);
    } finally {
      await client.end();
    }
    expect(await indexed()).toEqual(children.filter((c) => c !== "orders__items"));
    p.add("in/b.jsonl", jsonLines([{ ...nestedOrders[0]!, items: [{ sku: "A-1", qty: 7, discounts: [] }] }]));
    expect((await p.run()).status).toBe("succeeded");
    expect(await indexed()).toEqual(children);
    // The merge deleted the merged parent's old children and kept the other parent's.
    expect((await tables(p)).items).toEqual([
      { id: 1, sku: "A-1", qty: 7, idx: 0 },
      { id: 2, sku: "C-3", qty: 5, idx: 0 },
    ]);
  });

  test("nested tables: rollback of the parent restores its child tables exactly", async (make) => {
    for (const mode of ["merge, keys: [id]", "replace"]) {
      const p = await make(ordersPipeline(`{ table: orders, mode: ${mode} }`));
      p.add("in/a.jsonl", jsonLines(nestedOrders));
      const first = await p.run();
      const after1 = JSON.stringify(await tables(p));
      p.add(
        "in/b.jsonl",
        jsonLines([{ ...nestedOrders[0]!, tags: ["old"], items: [{ sku: "Z-9", qty: 9, discounts: [] }] }]),
      );
      expect((await p.run()).status).toBe("succeeded");
      expect(JSON.stringify(await tables(p))).not.toBe(after1);
      await p.rollback("orders", first.run_id);
      expect(JSON.stringify(await tables(p)), mode).toBe(after1);
      const undone = (await p.history("orders__items__discounts")).filter((h) => h.rolled_back_by !== null);
      expect(undone, mode).toHaveLength(1);
    }
  });
}
