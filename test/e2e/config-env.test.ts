import { describe, expect, it } from "vitest";
import { makeProject, sluice } from "../support/cli.js";

/** `${NAME}` as written in sluice.yaml. */
const ref = (name: string): string => ["$", "{", name, "}"].join("");

const pipelines = `pipelines:
  orders:
    source: { path: "in/*.csv" }
    target: { table: orders }
`;

describe("environment values in sluice.yaml", () => {
  it("a reference in a YAML comment is not one (the reference config's line in docs/configuration.md)", async () => {
    const dir = makeProject(
      `warehouse: duckdb:warehouse.duckdb   # default (path relative to sluice.yaml); or postgres://user:${ref("PGPASSWORD")}@host:5432/db\n${pipelines}`,
    );
    const validate = await sluice(["validate"], dir, { env: { PGPASSWORD: "" } });
    expect(validate.stderr).toBe("");
    expect(validate.code).toBe(0);
  });

  it("a secret of digits stays text, even inside a flow mapping", async () => {
    const dir = makeProject(
      `s3: { endpoint: "http://127.0.0.1:9000", secret_access_key: ${ref("S3_SECRET")} }\n${pipelines}`,
    );
    const validate = await sluice(["validate"], dir, { env: { S3_SECRET: "987654321012" } });
    expect(validate.stderr).toBe("");
    expect(validate.code).toBe(0);
  });

  it("a password holding ' #' is kept whole, and no error prints it", async () => {
    const url = `postgres://sluice:${ref("PGPASSWORD")}@127.0.0.1:1/w`;
    const dir = makeProject(
      `warehouse: ${url}\n${pipelines.replace("target:", `max_failure_rate: ${ref("RATE")}\n    target:`)}`,
    );
    const validate = await sluice(["validate", "--json"], dir, {
      env: { PGPASSWORD: "pa #ss-secret", RATE: "rate-secret" },
    });
    expect(validate.code).toBe(2);
    expect(validate.json<{ problems: { text: string }[] }>().problems.map((p) => p.text)).toEqual([
      `sluice.yaml: pipelines.orders.max_failure_rate: expected number, got the value of ${ref("RATE")}`,
    ]);
    expect(validate.stdout + validate.stderr).not.toMatch(/secret/);
  });
});
