import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { describe, expect, it } from "vitest";
import { addFile, makeProject, sluice } from "../support/cli.js";

const schema = JSON.parse(readFileSync("test/fixtures/openlineage/run-event.schema.json", "utf8"));
const ajv = new Ajv2020({ allErrors: true, strict: false });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);
const validate = ajv.compile(schema);

interface Event {
  eventType: string;
  run: { runId: string; facets: Record<string, { run_id?: string; message?: string }> };
  job: { name: string };
  inputs: {
    name: string;
    inputFacets?: { dataQualityAssertions: { assertions: { assertion: string; success: boolean }[] } };
  }[];
  outputs: {
    name: string;
    outputFacets?: { outputStatistics: { rowCount: number } };
    facets: { schema?: { fields: { name: string }[] } };
  }[];
}

const pipelines = (lineage: string) => `warehouse: duckdb:warehouse.duckdb
landing: landing
lineage: ${lineage}
pipelines:
  orders:
    source: { path: "in/orders/*.csv" }
    columns: { id: { type: bigint }, note: { type: varchar } }
    checks: [{ rule: not_null, columns: [id] }]
    max_failure_rate: 0.9
    target: { table: orders }
  strict:
    source: { path: "in/strict/*.csv" }
    checks: [{ rule: not_null, columns: [id] }]
    max_failure_rate: 0
    target: { table: strict_t }
`;

function project(lineage: string): string {
  return makeProject(pipelines(lineage), {
    "landing/in/orders/a.csv": "id,note\n1,x\n,y\n",
    "landing/in/strict/s.csv": "id,v\n1,a\n,b\n",
  });
}

function checkEvents(events: Event[]): void {
  for (const e of events) expect(validate(e), JSON.stringify(validate.errors)).toBe(true);
  const byJob = (job: string) => events.filter((e) => e.job.name === job);
  const orders = byJob("orders");
  expect(orders.map((e) => e.eventType)).toEqual(["START", "COMPLETE"]);
  expect(orders[0]!.run.runId).toBe(orders[1]!.run.runId);
  const done = orders[1]!;
  expect(done.inputs.map((i) => i.name)).toEqual(["in/orders/a.csv"]);
  expect(done.inputs[0]!.inputFacets!.dataQualityAssertions.assertions).toEqual([
    { assertion: "not_null(id)", success: false, column: "id" },
  ]);
  expect(done.outputs[0]!.name).toBe("main.orders");
  expect(done.outputs[0]!.outputFacets!.outputStatistics.rowCount).toBe(1);
  expect(done.outputs[0]!.facets.schema!.fields.map((f) => f.name)).toEqual(["id", "note"]);
  const strict = byJob("strict");
  expect(strict.map((e) => e.eventType)).toEqual(["START", "FAIL"]);
  expect(strict[1]!.run.facets.errorMessage!.message).toMatch(/max_failure_rate/);
  expect(strict[1]!.outputs[0]!.outputFacets).toBeUndefined();
}

describe("OpenLineage RunEvents", () => {
  it("writes START then COMPLETE or FAIL per run to a JSONL file, valid against the RunEvent schema", async () => {
    const dir = project("{ file: lineage/openlineage.jsonl }");
    expect((await sluice(["run"], dir)).code).toBe(1);
    const lines = readFileSync(join(dir, "lineage/openlineage.jsonl"), "utf8").trim().split("\n");
    const events = lines.map((l) => JSON.parse(l) as Event);
    checkEvents(events);
    // The schema does reject what breaks the contract.
    expect(validate({ ...events[0], run: { runId: "not-a-uuid" } })).toBe(false);
    expect(validate({ ...events[0], producer: undefined })).toBe(false);
    // A run with nothing new emits nothing.
    expect((await sluice(["run", "orders"], dir)).code).toBe(0);
    expect(readFileSync(join(dir, "lineage/openlineage.jsonl"), "utf8").trim().split("\n")).toHaveLength(4);
  });

  it("POSTs each event to an HTTP endpoint", async () => {
    const received: Event[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => {
        body += d.toString();
      });
      req.on("end", () => {
        received.push(JSON.parse(body) as Event);
        res.writeHead(201).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    try {
      const { port } = server.address() as AddressInfo;
      const dir = project(`{ url: "http://127.0.0.1:${port}/api/v1/lineage" }`);
      expect((await sluice(["run"], dir)).code).toBe(1);
      checkEvents(received);
    } finally {
      server.close();
    }
  });

  it("an unreachable endpoint is a notice, not a failed run", async () => {
    const dir = makeProject(pipelines(`{ url: "http://127.0.0.1:9/lineage" }`));
    addFile(dir, "landing/in/orders/a.csv", "id,note\n1,x\n");
    const r = await sluice(["run", "orders"], dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/lineage: START event of orders not delivered/);
  });
});
