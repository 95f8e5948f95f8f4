import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { addFile, makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";
import { writeParquet } from "../support/files.js";

// A config names columns in many places; every one must mean a column the data has, and a mask that
// cannot be applied is a configuration error: nothing is loaded unmasked.

const header = "id,E-Mail,SSN";
const people = [header, "1,ada@example.com,123-45-6789", "2,bob@example.com,987-65-4321", ""].join("\n");
const secrets = ["ada@example.com", "bob@example.com", "123-45-6789", "987-65-4321"];

async function query(dir: string, sql: string): Promise<Record<string, unknown>[]> {
  const r = await sluice(["query", sql, "--json"], dir);
  expect(r.code, r.stderr).toBe(0);
  return r.json();
}

/** Every text Sluice wrote in the project: landing zone (quarantine, logs; not the archived source). */
function writtenText(dir: string): string {
  const root = join(dir, "landing");
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter(
      (e) =>
        e.isFile() &&
        !e.parentPath.startsWith(join(root, "archive")) &&
        !e.parentPath.startsWith(join(root, "in")),
    )
    .map((e) => readFileSync(join(e.parentPath, e.name), "utf8"))
    .join("\n");
}

describe("columns declared by the source's name or the normalized name", () => {
  it.each([
    ["the source's names", `"E-Mail": { mask: email }, "SSN": { mask: redact }`, ""],
    ["the normalized names", `e_mail: { mask: email }, ssn: { mask: redact }`, ""],
    [
      "the source's names, no checks (read by the publish)",
      `"E-Mail": { mask: email }, "SSN": { mask: redact }`,
      "none",
    ],
  ])(
    "masks by %s reach the table, the quarantine, rows.jsonl and the profile",
    async (_, columns, checks) => {
      const rules = checks === "none" ? "" : "  checks:\n    - { rule: range, column: id, min: 2 }\n";
      const dir = makeProject(
        pipelineYaml(
          `p:\n  source: { path: "in/*.csv" }\n  columns: { ${columns}, id: { type: bigint } }\n${rules}  max_failure_rate: 1\n  target: { table: p }`,
        ),
        { "landing/in/a.csv": people },
      );
      expect((await sluice(["validate"], dir)).code).toBe(0);
      const r = await sluice(["run", "--json"], dir);
      expect(r.code, r.stdout).toBe(0);
      const ada = { id: 1, e_mail: "a***@example.com", ssn: "[REDACTED]" };
      const bob = { id: 2, e_mail: "b***@example.com", ssn: "[REDACTED]" };
      expect(await query(dir, "SELECT id, e_mail, ssn FROM p ORDER BY id")).toEqual(
        checks === "none" ? [ada, bob] : [bob],
      );
      if (checks !== "none") {
        const q = (await sluice(["quarantine", "p", "--json"], dir)).json<
          { values: Record<string, unknown> }[]
        >();
        expect(q.map((x) => x.values)).toEqual([ada]);
      }
      const profile = (await sluice(["profile", "p", "--json"], dir)).json<{
        columns: { column: string; min: unknown; max: unknown }[];
      }>();
      for (const name of ["e_mail", "ssn"]) {
        expect(profile.columns.find((c) => c.column === name)).toMatchObject({ min: null, max: null });
      }
      const everything = `${writtenText(dir)}\n${JSON.stringify(await query(dir, "SELECT report, (SELECT string_agg(\"values\"::VARCHAR, '') FROM sluice.quarantine) AS q FROM sluice.runs"))}`;
      for (const secret of secrets) expect(everything).not.toContain(secret);
    },
  );

  it("JSON lines and Parquet files: keys by the source's names mask the same columns", async () => {
    const yaml = (glob: string) =>
      pipelineYaml(
        `p:\n  source: { path: "${glob}" }\n  columns: { "E-Mail": { mask: email }, "SSN": { mask: redact } }\n  target: { table: p }`,
      );
    const jsonl = makeProject(yaml("in/*.jsonl"), {
      "landing/in/a.jsonl": '{"id":1,"E-Mail":"ada@example.com","SSN":"123-45-6789"}\n',
    });
    const parquet = makeProject(yaml("in/*.parquet"));
    mkdirSync(join(parquet, "landing/in"), { recursive: true });
    await writeParquet(
      join(parquet, "landing/in/a.parquet"),
      `SELECT 1 AS id, 'ada@example.com' AS "E-Mail", '123-45-6789' AS "SSN"`,
    );
    for (const dir of [jsonl, parquet]) {
      const r = await sluice(["run"], dir);
      expect(r.code, r.stdout).toBe(0);
      expect(await query(dir, "SELECT id, e_mail, ssn FROM p")).toEqual([
        { id: 1, e_mail: "a***@example.com", ssn: "[REDACTED]" },
      ]);
    }
  });

  it("two keys meaning one column are a config error", async () => {
    const dir = makeProject(
      pipelineYaml(
        `p:\n  source: { path: "in/*.csv" }\n  columns: { "E-Mail": { mask: email }, e_mail: { type: varchar } }\n  target: { table: p }`,
      ),
      { "landing/in/a.csv": people },
    );
    const v = await sluice(["validate"], dir);
    expect(v.code).toBe(2);
    expect(v.stderr).toContain(
      "sluice.yaml: pipelines.p.columns.e_mail: means the same column as columns.E-Mail (both name e_mail); declare it once",
    );
  });
});

describe("a mask on a column the data does not have", () => {
  it.each([
    [
      "email against E-mail",
      "",
      `email: { mask: email }`,
      "columns.email.mask: mask email cannot be applied: no column email in in/a.csv (its columns: id, e_mail, ssn); did you mean `e_mail`?",
    ],
    [
      "naming: keep, ssn against SSN",
      "  naming: keep\n",
      `ssn: { mask: redact }`,
      "columns.ssn.mask: mask redact cannot be applied: no column ssn in in/a.csv (its columns: id, E-Mail, SSN); did you mean `SSN`?",
    ],
  ])(
    "%s: validate and run refuse with exit 2, reading and moving nothing",
    async (_, naming, columns, line) => {
      const dir = makeProject(
        pipelineYaml(
          `p:\n  source: { path: "in/*.csv" }\n${naming}  columns: { ${columns} }\n  target: { table: p }`,
        ),
        { "landing/in/a.csv": people.replace("E-Mail", naming ? "E-Mail" : "E-mail") },
      );
      for (const args of [["validate"], ["run"]]) {
        const r = await sluice(args, dir);
        expect([args[0], r.code]).toEqual([args[0], 2]);
        expect(r.stderr.trim().split("\n")).toEqual([`error: sluice.yaml: pipelines.p.${line}`]);
        expect(r.stdout).toBe("");
      }
      expect(existsSync(join(dir, "landing/in/a.csv"))).toBe(true);
      expect(existsSync(join(dir, "warehouse.duckdb"))).toBe(false);
    },
  );

  it("at run time a file lacking a masked column fails alone and stays; the others load masked", async () => {
    const dir = makeProject(
      pipelineYaml(
        `p:\n  source: { path: "in/*.csv" }\n  columns: { "E-Mail": { mask: email } }\n  target: { table: p }`,
      ),
    );
    // The older file has another header; validate samples the newest, which fits.
    addFile(dir, "landing/in/old.csv", "id,email\n1,old@example.com\n");
    await new Promise((resolve) => setTimeout(resolve, 20));
    addFile(dir, "landing/in/new.csv", "id,E-Mail\n2,new@example.com\n");
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(1);
    const run = r.json<RunJson>().runs[0]!;
    const old = run.files.find((f) => f.path === "in/old.csv")!;
    expect(old.status).toBe("failed");
    expect(old.error).toBe(
      "in/old.csv: columns.E-Mail.mask: mask email cannot be applied: no column e_mail in in/old.csv (its columns: id, email); did you mean `email`? The file stays in the landing zone",
    );
    expect(old.archived_to).toBeNull();
    expect(existsSync(join(dir, "landing/in/old.csv"))).toBe(true);
    expect(run.files.find((f) => f.path === "in/new.csv")!.status).toBe("loaded");
    expect(await query(dir, "SELECT * EXCLUDE (_sluice_run_id, _sluice_loaded_at) FROM p")).toEqual([
      { id: 2, e_mail: "n***@example.com", _sluice_source_file: "in/new.csv" },
    ]);
    expect(writtenText(dir)).not.toContain("old@example.com");
    expect(writtenText(dir)).not.toContain("new@example.com");
  });
});

describe("every column a config names is checked before data moves", () => {
  it("validate and run name unknown keys, partition columns, the cursor and dedupe order, with suggestions", async () => {
    const dir = makeProject(
      pipelineYaml(`p:
  source: { path: "in/*.csv" }
  columns: { amount: { type: strng } }
  dedupe: { keys: [id], order_by: "updated" }
  incremental: { cursor: updatedat }
  target: { table: p, mode: delete_insert, keys: [idd], partition_by: [day] }`),
      { "landing/in/a.csv": "id,updated_at,day\n1,2026-01-01,1\n" },
    );
    for (const args of [["validate"], ["run"]]) {
      const r = await sluice(args, dir);
      expect([args[0], r.code]).toEqual([args[0], 2]);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toEqual(
        expect.arrayContaining([
          expect.stringMatching(
            /^error: sluice\.yaml: pipelines\.p\.columns\.amount\.type: unknown type strng; did you mean `string`\? Types: boolean, integer, .*varchar/,
          ),
          expect.stringMatching(
            /^error: sluice\.yaml: pipelines\.p\.columns\.amount: no column amount in in\/a\.csv \(its columns: id, updated_at, day\)/,
          ),
          'error: sluice.yaml: pipelines.p.target.keys[0]: unknown column "idd" (columns: id, updated_at, day); did you mean `id`?',
          'error: sluice.yaml: pipelines.p.incremental.cursor: unknown column "updatedat" (columns: id, updated_at, day); did you mean `updated_at`?',
          expect.stringMatching(/^error: sluice\.yaml: pipelines\.p\.dedupe\.order_by: .*updated/),
        ]),
      );
      expect(lines.some((l) => l.includes("partition_by"))).toBe(false);
    }
    expect(existsSync(join(dir, "landing/in/a.csv"))).toBe(true);
    expect(existsSync(join(dir, "warehouse.duckdb"))).toBe(false);
  });

  it("without a landing file to sample, validate says what it could not check", async () => {
    const dir = makeProject(
      pipelineYaml(
        `orders:\n  source: { path: "in/orders/*.csv" }\n  columns: { email: { mask: email } }\n  target: { table: orders }`,
      ),
    );
    const v = await sluice(["validate"], dir);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain(
      "  orders: columns not checked: no file matches in/orders/*.csv (nor any in archive/orders/) to read them from; `sluice run` checks them against the newest file when one arrives",
    );
    const json = (await sluice(["validate", "--json"], dir)).json<{ unchecked: { pipeline: string }[] }>();
    expect(json.unchecked.map((u) => u.pipeline)).toEqual(["orders"]);
  });

  it("a glob that matches nothing says so, with exit code 0", async () => {
    const dir = makeProject(
      pipelineYaml(`orders:\n  source: { path: "in/orders/*.csv" }\n  target: { table: orders }`),
      { "landing/orders/a.csv": "id\n1\n" },
    );
    const r = await sluice(["run"], dir);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("orders: no file matches in/orders/*.csv");
    const json = (await sluice(["run", "--json"], dir)).json<{ runs: { status: string; note?: string }[] }>();
    expect(json.runs[0]).toMatchObject({ status: "skipped", note: "no file matches in/orders/*.csv" });
  });
});
