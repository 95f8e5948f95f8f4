import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, pipelineYaml, sluice } from "../support/cli.js";

const yaml = (table: string, column: string) =>
  pipelineYaml(`customers:
  source: { path: "in/customers/*.csv" }
  target: { table: customers }
orders:
  source: { path: "in/orders/*.csv" }
  checks:
    - { rule: foreign_key, column: customer_id, references: { table: ${table}, column: ${column} } }
  target: { table: orders }`);

describe("sluice validate: foreign_key references", () => {
  it("names a referenced table that neither exists nor is loaded, and a column the table lacks", async () => {
    const dir = makeProject(yaml("regions", "id"), {
      "landing/in/customers/c.csv": "id,name\n1,a\n",
      "landing/in/orders/o.csv": "id,customer_id\n1,1\n",
    });
    const missing = await sluice(["validate"], dir);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe(
      "error: sluice.yaml: pipelines.orders.checks[0].references.table: table regions does not exist in the warehouse and no pipeline loads it",
    );
    const json = await sluice(["validate", "--json"], dir);
    expect(json.code).toBe(2);
    expect(json.json<{ valid: boolean }>().valid).toBe(false);

    // A table a pipeline loads is fine before its first run.
    writeFileSync(join(dir, "sluice.yaml"), yaml("customers", "id"));
    const loadedLater = await sluice(["validate"], dir);
    expect(loadedLater.code, loadedLater.stderr).toBe(0);
    expect((await sluice(["run", "customers"], dir)).code).toBe(0);
    expect((await sluice(["validate"], dir)).code).toBe(0);

    writeFileSync(join(dir, "sluice.yaml"), yaml("customers", "customer_no"));
    const column = await sluice(["validate"], dir);
    expect(column.code).toBe(2);
    expect(column.stderr).toContain(
      "pipelines.orders.checks[0].references.column: customers has no column customer_no (columns: id, name",
    );
  }, 60_000);
});
