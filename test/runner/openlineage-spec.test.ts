import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { describe, expect, it } from "vitest";
import { makeProject, sluice } from "../support/cli.js";

// The specification files as OpenLineage publishes them: the RunEvent and each facet Sluice emits.
const SPEC = "test/fixtures/openlineage/spec";
const ajv = new Ajv2020({ allErrors: true, strict: false });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);
const core = JSON.parse(readFileSync(join(SPEC, "OpenLineage.json"), "utf8"));
ajv.addSchema(core);
const facetSchemas = new Map<string, { id: string; validate: ReturnType<typeof ajv.compile> }>();
for (const file of readdirSync(join(SPEC, "facets"))) {
  const schema = JSON.parse(readFileSync(join(SPEC, "facets", file), "utf8"));
  ajv.addSchema(schema);
  // Each facet file validates the facets object holding it under its key (`schema`, `errorMessage`, ...).
  const key = Object.keys(schema.properties)[0]!;
  facetSchemas.set(key, { id: schema.$id, validate: ajv.getSchema(schema.$id)! });
}
const runEvent = ajv.compile({ $ref: `${core.$id}#/$defs/RunEvent` });

interface Dataset {
  namespace: string;
  name: string;
  facets?: Record<string, unknown>;
  inputFacets?: Record<string, unknown>;
  outputFacets?: Record<string, unknown>;
}
interface Event {
  eventType: string;
  run: { runId: string; facets: Record<string, unknown> };
  job: { name: string };
  inputs: Dataset[];
  outputs: Dataset[];
}

/** Every facet of an event, with where it sits. */
function facetsOf(e: Event): [string, string, unknown][] {
  const out: [string, string, unknown][] = Object.entries(e.run.facets).map(([k, v]) => ["run", k, v]);
  for (const d of [...e.inputs, ...e.outputs]) {
    for (const group of ["facets", "inputFacets", "outputFacets"] as const) {
      for (const [k, v] of Object.entries(d[group] ?? {})) out.push([`${d.name} ${group}`, k, v]);
    }
  }
  return out;
}

describe("OpenLineage events against the OpenLineage specification files", () => {
  it("START, COMPLETE and FAIL of file, table and lake pipelines validate, facets included", async () => {
    const dir = makeProject(
      `warehouse: duckdb:warehouse.duckdb
landing: landing
lake: lake
lineage: { file: lineage/events.jsonl }
pipelines:
  orders:
    source: { path: "in/orders/*.csv" }
    columns: { id: { type: bigint }, note: { type: varchar }, email: { type: varchar, mask: email } }
    checks: [{ rule: not_null, columns: [id] }, { rule: accepted_values, column: note, values: [x, y] }]
    max_failure_rate: 0.9
    target: { table: orders, lake: { table: orders_lake } }
  copy:
    depends_on: [orders]
    source: { table: orders }
    columns: { id: { type: bigint } }
    checks: [{ rule: not_null, columns: [id] }]
    target: { table: orders_copy }
  strict:
    source: { path: "in/strict/*.csv" }
    checks: [{ rule: not_null, columns: [id] }]
    max_failure_rate: 0
    target: { table: strict_t }
`,
      {
        "landing/in/orders/a.csv": "id,note,email\n1,x,a@example.com\n,y,b@example.com\n2,z,c@example.com\n",
        "landing/in/strict/s.csv": "id,v\n1,a\n,b\n",
      },
    );
    const run = await sluice(["run"], dir);
    expect(run.code, run.stderr).toBe(1);
    const events = readFileSync(join(dir, "lineage/events.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Event);
    const types = (job: string) => events.filter((e) => e.job.name === job).map((e) => e.eventType);
    expect(types("orders")).toEqual(["START", "COMPLETE"]);
    expect(types("copy")).toEqual(["START", "COMPLETE"]);
    expect(types("strict")).toEqual(["START", "FAIL"]);

    const seen = new Set<string>();
    for (const e of events) {
      expect(runEvent(e), `${e.job.name} ${e.eventType}: ${JSON.stringify(runEvent.errors)}`).toBe(true);
      for (const [where, key, value] of facetsOf(e)) {
        const spec = facetSchemas.get(key);
        if (!spec) {
          // Only Sluice's own run facet has no OpenLineage file; it still carries the base facet fields.
          expect(`${where} ${key}`).toBe("run sluice");
          continue;
        }
        seen.add(key);
        const ok = spec.validate({ [key]: value });
        expect(
          ok,
          `${e.job.name} ${e.eventType} ${where} ${key}: ${JSON.stringify(spec.validate.errors)}`,
        ).toBe(true);
        // The facet names the specification it follows (its file, any version).
        const url = (value as { _schemaURL: string })._schemaURL;
        expect(url.replace(/\/\d+-\d+-\d+\//, "/V/").split("#")[0]).toBe(
          spec.id.replace(/\/\d+-\d+-\d+\//, "/V/"),
        );
      }
    }
    expect([...seen].sort()).toEqual([
      "dataQualityAssertions",
      "dataQualityMetrics",
      "errorMessage",
      "outputStatistics",
      "schema",
    ]);

    // The specification files do reject what breaks them.
    const fail = events.find((e) => e.eventType === "FAIL")!;
    expect(runEvent({ ...fail, run: { ...fail.run, runId: "not-a-uuid" } })).toBe(false);
    const { programmingLanguage: _, ...partial } = fail.run.facets.errorMessage as Record<string, unknown>;
    expect(facetSchemas.get("errorMessage")!.validate({ errorMessage: partial })).toBe(false);

    const done = (job: string) => events.find((e) => e.job.name === job && e.eventType !== "START")!;
    // A file pipeline: its landing file in, the warehouse table and the lake table out, rows counted.
    expect(done("orders").inputs.map((i) => i.name)).toEqual(["in/orders/a.csv"]);
    expect(done("orders").inputs[0]!.inputFacets!.dataQualityMetrics).toMatchObject({ rowCount: 3 });
    expect(done("orders").outputs.map((o) => o.name)).toEqual(["main.orders", "orders_lake"]);
    for (const o of done("orders").outputs)
      expect(o.outputFacets!.outputStatistics).toMatchObject({ rowCount: 1 });
    // A table pipeline: the upstream warehouse table is its input, in the warehouse's namespace.
    expect(done("copy").inputs.map((i) => [i.namespace, i.name])).toEqual([
      [done("orders").outputs[0]!.namespace, "main.orders"],
    ]);
    expect(done("copy").outputs.map((o) => o.name)).toEqual(["main.orders_copy"]);
  });
});
