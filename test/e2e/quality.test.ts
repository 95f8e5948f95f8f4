import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";

const orders = [
  "order_id,email,amount,status,updated_at",
  "1,ada@example.com,10,NEW,2026-01-01",
  "2,not-an-email,20,NEW,2026-01-01",
  "3,grace@example.com,-5,SHIPPED,2026-01-01",
  "1,ada.l@example.com,11,SHIPPED,2026-01-02",
  "4,alan@example.com,,NEW,2026-01-01",
  "5,edsger@example.com,7,WEIRD,2026-01-01",
  "6,barbara@example.com,8,NEW,2026-01-01",
  "",
].join("\n");

const pipeline = (extra: string, maxFailureRate = "0.9") => `orders:
  source: { path: "in/*.csv" }
  columns:
    order_id: { type: bigint }
    email: { type: varchar, mask: email }
    amount: { type: "decimal(12,2)" }
  checks:
    - { rule: not_null, columns: [order_id, amount] }
    - { rule: range, column: amount, min: 0, max: 1000 }
    - { rule: regex, column: email, pattern: "^[^@]+@[^@]+\\\\.[a-z]+$" }
    - { rule: accepted_values, column: status, values: [NEW, SHIPPED] }
    - { rule: completeness, column: email, min: 0.5, severity: warn }
${extra}  max_failure_rate: ${maxFailureRate}
  dedupe: { keys: [order_id], keep: last, order_by: updated_at }
  target: { table: orders }`;

async function query(dir: string, sql: string): Promise<Record<string, unknown>[]> {
  const r = await sluice(["query", sql, "--json"], dir);
  expect(r.code, r.stderr).toBe(0);
  return r.json();
}

function allText(dir: string): string {
  const root = join(dir, "landing");
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && !e.parentPath.includes(`${join(root, "archive")}`))
    .map((e) => readFileSync(join(e.parentPath, e.name), "utf8"))
    .join("\n");
}

describe("checks, quarantine, dedupe and masking through sluice run", () => {
  it("quarantines failing rows with every rule and reason, dedupes, masks everywhere", async () => {
    const dir = makeProject(pipelineYaml(pipeline("")), { "landing/in/a.csv": orders });
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(0);
    const run = r.json<RunJson>().runs[0]!;
    expect(run.rows).toEqual({ read: 7, loaded: 2, quarantined: 4, malformed: 0, duplicates: 1 });
    expect(run.checks).toEqual([
      { name: "not_null(order_id,amount)", severity: "error", failed: 1 },
      { name: "range(amount)", severity: "error", failed: 1 },
      { name: "regex(email)", severity: "error", failed: 1 },
      { name: "accepted_values(status)", severity: "error", failed: 1 },
      { name: "completeness(email)", severity: "warn", failed: 0 },
    ]);
    expect(
      await query(
        dir,
        "SELECT order_id, email, amount::DOUBLE AS amount, status FROM orders ORDER BY order_id",
      ),
    ).toEqual([
      { order_id: 1, email: "a***@example.com", amount: 11, status: "SHIPPED" },
      { order_id: 6, email: "b***@example.com", amount: 8, status: "NEW" },
    ]);
    const q = (await sluice(["quarantine", "orders", "--json"], dir)).json<
      { line: number; rules: string[]; reasons: string[]; values: Record<string, unknown> }[]
    >();
    expect(q.map((x) => [x.line, x.rules, x.reasons])).toEqual([
      [3, ["regex(email)"], ["email does not match the pattern ^[^@]+@[^@]+\\.[a-z]+$"]],
      [4, ["range(amount)"], ["amount = -5.00 is below the minimum 0"]],
      [6, ["not_null(order_id,amount)"], ["amount is null"]],
      [7, ["accepted_values(status)"], ["status = 'WEIRD' is not one of NEW, SHIPPED"]],
    ]);
    expect(q.find((x) => x.line === 4)!.values).toMatchObject({
      order_id: 3,
      email: "g***@example.com",
      status: "SHIPPED",
    });
    expect(q.find((x) => x.line === 3)!.values.email).toBe("[REDACTED]");
    // No unmasked address anywhere Sluice writes: quarantine files, logs, catalog.
    const written = allText(dir);
    for (const secret of ["ada@example.com", "grace@example.com", "not-an-email", "barbara@example.com"]) {
      expect(written).not.toContain(secret);
    }
    const catalog = await query(
      dir,
      "SELECT string_agg(report::VARCHAR || coalesce(\"values\"::VARCHAR, ''), '') AS t FROM sluice.runs, sluice.quarantine",
    );
    expect(String(catalog[0]!.t)).not.toContain("grace@example.com");
    const report = await sluice(["runs", run.run_id], dir);
    expect(report.stdout).toContain("range(amount) [error]: 1 failed");
  });

  it("above max_failure_rate nothing is published, the file goes to unprocessed/ and the quarantine is kept", async () => {
    const dir = makeProject(pipelineYaml(pipeline("", "0.2")), { "landing/in/a.csv": orders });
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(1);
    const run = r.json<RunJson>().runs[0]!;
    expect(run.status).toBe("failed");
    expect(run.files[0]!.error).toBe(
      "in/a.csv: 4 of 7 rows failed (57.1% > max_failure_rate 20.0%); nothing published",
    );
    expect(run.files[0]!.archived_to).toMatch(/^unprocessed\/orders\//);
    expect(run.checks.find((c) => c.name === "range(amount)")!.failed).toBe(1);
    const tables = await query(
      dir,
      "SELECT count(*)::INT AS n FROM duckdb_tables() WHERE table_name = 'orders'",
    );
    expect(tables[0]).toEqual({ n: 0 });
    expect((await sluice(["quarantine", "orders", "--json"], dir)).json<unknown[]>()).toHaveLength(4);
    expect(existsSync(join(dir, "landing/quarantine/orders", run.run_id, "rows.jsonl"))).toBe(true);
    const stored = (await sluice(["runs", run.run_id, "--json"], dir)).json<RunJson["runs"][number]>();
    expect(stored.checks).toEqual(run.checks);
  });

  it("strict mode (max_failure_rate: 0) fails on a single failing row", async () => {
    const dir = makeProject(pipelineYaml(pipeline("", "0")), { "landing/in/a.csv": orders });
    expect((await sluice(["run"], dir)).code).toBe(1);
  });

  it("fatal rules and failing dataset rules fail the file; warn rules only report", async () => {
    const yaml = pipelineYaml(`o:
  source: { path: "in/*.csv" }
  checks:
    - { rule: expression, name: positive, sql: "amount > 0", severity: fatal }
  target: { table: o }`);
    const dir = makeProject(yaml, { "landing/in/a.csv": "id,amount\n1,5\n2,-1\n" });
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(1);
    expect(r.json<RunJson>().runs[0]!.files[0]!.error).toBe(
      "in/a.csv: positive [fatal]: 1 rows failed; nothing published",
    );

    const rows = makeProject(
      pipelineYaml(`o:
  source: { path: "in/*.csv" }
  checks:
    - { rule: row_count, min: 3 }
    - { rule: uniqueness, column: id, min: 0.9, severity: warn }
  target: { table: o }`),
      { "landing/in/a.csv": "id\n1\n1\n" },
    );
    const rr = (await sluice(["run", "--json"], rows)).json<RunJson>().runs[0]!;
    expect(rr.files[0]!.error).toMatch(/^in\/a\.csv: row_count \[error\]: .*; nothing published$/);

    const warnOnly = makeProject(
      pipelineYaml(`o:
  source: { path: "in/*.csv" }
  checks:
    - { rule: uniqueness, column: id, min: 0.9, severity: warn }
    - { rule: range, column: id, min: 2, severity: warn, where: "id < 100" }
  target: { table: o }`),
      { "landing/in/a.csv": "id\n1\n1\n500\n" },
    );
    const w = (await sluice(["run", "--json"], warnOnly)).json<RunJson>().runs[0]!;
    expect(w.status).toBe("succeeded");
    expect(w.rows.loaded).toBe(3);
    expect(w.checks).toEqual([
      { name: "uniqueness(id)", severity: "warn", failed: 1 },
      { name: "range(id)", severity: "warn", failed: 2 },
    ]);
    expect(w.files[0]!.warnings.some((x) => x.startsWith("check uniqueness(id) (warn)"))).toBe(true);
  });

  it("gives quarantined rows their file lines when a rule joins (unique), with malformed lines beside", async () => {
    const lines = ["id,v"];
    for (let i = 1; i <= 3000; i++) lines.push(`${i},v${i}`);
    lines[5] = "2999,dup"; // line 6 repeats the id of line 3000
    lines[9] = "9,a,extra"; // line 10 is malformed
    for (const env of [{}, { SLUICE_SINGLE_PASS: "0" }]) {
      const dir = makeProject(
        pipelineYaml(`t:
  source: { path: "in/*.csv" }
  checks: [{ rule: unique, columns: [id] }]
  max_failure_rate: 0.5
  target: { table: t }`),
        { "landing/in/a.csv": `${lines.join("\n")}\n` },
      );
      const r = await sluice(["run", "--json"], dir, { env });
      expect(r.code, r.stdout).toBe(0);
      const rows = await query(
        dir,
        "SELECT line::INT AS line, rules, \"values\"->>'v' AS v FROM sluice.quarantine ORDER BY line",
      );
      expect(rows, JSON.stringify(env)).toEqual([
        { line: 6, rules: ["unique(id)"], v: "dup" },
        { line: 10, rules: ["malformed"], v: null },
        { line: 3000, rules: ["unique(id)"], v: "v2999" },
      ]);
    }
  });

  it("never quotes a masked column's value in the reason of a row that does not convert (CSV both ways, JSONL)", async () => {
    const yaml = (glob: string) =>
      pipelineYaml(`p:
  source: { path: "${glob}" }
  columns:
    ssn: { type: integer, mask: "null" }
    code: { type: integer }
  max_failure_rate: 1
  target: { table: p }`);
    const cases = [
      {
        glob: "in/*.csv",
        file: "landing/in/a.csv",
        text: "id,ssn,code\n1,SECRET123,7\n2,42,OPEN99\n",
        env: {},
      },
      {
        glob: "in/*.csv",
        file: "landing/in/a.csv",
        text: "id,ssn,code\n1,SECRET123,7\n2,42,OPEN99\n",
        env: { SLUICE_SINGLE_PASS: "0" },
      },
      {
        glob: "in/*.jsonl",
        file: "landing/in/a.jsonl",
        text: '{"id":1,"ssn":"SECRET123","code":7}\n{"id":2,"ssn":42,"code":"OPEN99"}\n',
        env: {},
      },
    ];
    for (const c of cases) {
      const dir = makeProject(yaml(c.glob), { [c.file]: c.text });
      const r = await sluice(["run", "--json"], dir, { env: c.env });
      expect(r.code, r.stdout).toBe(0);
      expect(r.json<RunJson>().runs[0]!.rows).toMatchObject({ loaded: 0, quarantined: 2 });
      const reasons = (await query(dir, "SELECT line, reasons FROM sluice.quarantine ORDER BY line")).map(
        (row) => String(row.reasons),
      );
      expect(reasons, c.file).toHaveLength(2);
      expect(reasons[0]).toMatch(/column ssn: .*value withheld/);
      // An unmasked column's value is still quoted: the reason stays useful.
      expect(reasons[1]).toContain("OPEN99");
      expect(allText(dir)).not.toContain("SECRET123");
    }
  });

  it("loads, profiles and checks outliers in a float column holding values near the double's limits", async () => {
    // DuckDB's stddev_samp throws "out of range" on these: the outlier check failed the run and the
    // profile was dropped.
    const yaml = `readings:
  source: { path: "in/*.csv" }
  checks:
    - { rule: outlier, column: x, z_score: 3 }
  target: { table: readings }`;
    const dir = makeProject(pipelineYaml(yaml), {
      "landing/in/a.csv": "id,x\n1,-1e300\n2,1e300\n3,5\n4,1e-300\n",
    });
    const r = await sluice(["run", "--json"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json<RunJson>().runs[0]!.rows).toMatchObject({ read: 4, loaded: 4, quarantined: 0 });
    const profile = await sluice(["profile", "readings", "--json"], dir);
    expect(profile.code, profile.stderr).toBe(0);
    const x = profile
      .json<{ columns: { column: string; stddev: number | null }[] }>()
      .columns.find((c) => c.column === "x")!;
    // Sample stddev of (-1e300, 1e300, 5, 1e-300): sqrt(2e600 / 3) = 8.165e299.
    expect(x.stddev! / 1e299).toBeCloseTo(8.16497, 4);
  });

  it("validate rejects unknown columns, bad regexes, writing SQL, bad thresholds and string masks on numbers", async () => {
    const dir = makeProject(
      pipelineYaml(`o:
  source: { path: "in/*.csv" }
  columns:
    amount: { type: integer, mask: email }
  derive:
    x: "nope5 + 1"
    y: "amount * 2"
    z: "y + 1"
  checks:
    - { rule: not_null, columns: [nope] }
    - { rule: regex, column: name, pattern: "([a-z" }
    - { rule: expression, sql: "1=1; DROP TABLE o" }
    - { rule: expression, sql: "INSERT INTO o VALUES (1)" }
    - { rule: range, column: amount, min: 10, max: 1 }
    - { rule: expression, sql: "nope2 > 1" }
    - { rule: not_null, columns: [name], where: "nope3 > 1" }
    - { rule: expression, sql: "amount + 1" }
    - { rule: expression, sql: "name = 'x'", where: "amount > 0" }
  max_failure_rate: 2
  target: { table: o }`),
      { "landing/in/a.csv": "name,amount\nx,1\n" },
    );
    const r = await sluice(["validate"], dir);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toContain(
      "error: sluice.yaml: pipelines.o.max_failure_rate: Too big: expected number to be <=1",
    );
    writeFileSync(
      join(dir, "sluice.yaml"),
      readFileSync(join(dir, "sluice.yaml"), "utf8").replace("max_failure_rate: 2", "max_failure_rate: 0.1"),
    );
    const v = await sluice(["validate"], dir);
    expect(v.code).toBe(2);
    const text = v.stderr;
    expect(text).toMatch(/pipelines\.o\.checks\[0\]\.columns(\[0\])?: unknown column "nope"/);
    expect(text).toMatch(/pipelines\.o\.checks\[1\]\.pattern: /);
    expect(text).toMatch(/pipelines\.o\.checks\[2\]\.sql: .*;/);
    expect(text).toMatch(/pipelines\.o\.checks\[3\]\.sql: .*INSERT/);
    expect(text).toMatch(/pipelines\.o\.checks\[4\]\.(min|max): /);
    expect(text).toMatch(/pipelines\.o\.columns\.amount\.mask: /);
    // Bound to the sample file's columns: unknown columns and non-conditions are named; the rest pass.
    expect(text).toMatch(/pipelines\.o\.checks\[5\]\.sql: .*nope2/);
    expect(text).toMatch(/pipelines\.o\.checks\[6\]\.where: .*nope3/);
    expect(text).toContain("pipelines.o.checks[7].sql: must be a true/false condition, but it gives INTEGER");
    expect(text).not.toMatch(/checks\[8\]/);
    expect(text).toMatch(/pipelines\.o\.derive\.x: .*nope5/);
    expect(text).not.toMatch(/derive\.[yz]/);
    // Nothing was touched: the file is still waiting and no warehouse exists.
    expect(existsSync(join(dir, "landing/in/a.csv"))).toBe(true);
    expect(existsSync(join(dir, "warehouse.duckdb"))).toBe(false);
  });
});
