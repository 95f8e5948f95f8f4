import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";
import { writeWithDuckDb } from "../support/files.js";

interface QuarantineRow {
  file: string;
  line: number | null;
  rules: string[];
  reasons: string[];
  values: Record<string, unknown> | null;
  raw: string | null;
}

const eventsPipeline = (extra = "") => `events:
  source: { path: "in/*"${extra} }
  columns:
    email: { mask: email }
  checks:
    - { rule: not_null, columns: [id] }
  max_failure_rate: 0.9
  target: { table: events }`;

async function query(dir: string, sql: string): Promise<Record<string, unknown>[]> {
  const r = await sluice(["query", sql, "--json"], dir);
  expect(r.code).toBe(0);
  return r.json<Record<string, unknown>[]>();
}

async function quarantine(dir: string): Promise<QuarantineRow[]> {
  const rows = (await sluice(["quarantine", "events", "--json"], dir)).json<QuarantineRow[]>();
  return rows.sort((a, b) => `${a.file}:${a.line}`.localeCompare(`${b.file}:${b.line}`));
}

describe("JSON files (format: json)", () => {
  it("reads pretty-printed and one-line arrays and a single object; elements keep the line they start on", async () => {
    const pretty = JSON.stringify(
      [
        { id: 1, email: "a@example.com", tags: ["x", "]"] },
        { id: null, email: "b@example.com", note: 'has "quotes", {braces} and [brackets]' },
        { id: 3, email: "c@example.com", nested: { deep: [{ k: 1 }, { k: 2 }] } },
      ],
      null,
      2,
    );
    const dir = makeProject(pipelineYaml(eventsPipeline()), {
      "landing/in/pretty.json": pretty,
      "landing/in/minified.json": '[{"id":4,"email":"d@example.com"},{"id":null,"email":"e@example.com"}]',
      "landing/in/one.json": JSON.stringify({ id: 6, email: "f@example.com" }, null, 2),
      "landing/in/lines.json": '{"id":7,"email":"g@example.com"}\n{"id":8,"email":"h@example.com"}\n',
    });
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(0);
    const run = r.json<RunJson>().runs[0]!;
    expect(run.rows).toEqual({ read: 8, loaded: 6, quarantined: 2, malformed: 0, duplicates: 0 });
    const q = await quarantine(dir);
    // The second element of the pretty-printed array opens on the line of its `{`.
    const secondStart = pretty.split("\n").findIndex((l, i) => i > 1 && l.trim() === "{") + 1;
    expect(q.map((x) => [x.file, x.line, x.rules])).toEqual([
      ["in/minified.json", 1, ["not_null(id)"]],
      ["in/pretty.json", secondStart, ["not_null(id)"]],
    ]);
    expect(q.every((x) => x.values?.email !== undefined && !String(x.values.email).startsWith("b@"))).toBe(
      true,
    );
    expect(q.find((x) => x.file === "in/pretty.json")!.values!.email).toBe("b***@example.com");
    const rows = await query(dir, "SELECT id::INT AS id, email FROM events ORDER BY id");
    expect(rows.map((x) => x.id)).toEqual([1, 3, 4, 6, 7, 8]);
    expect(rows.every((x) => String(x.email).includes("***@"))).toBe(true);
  });

  it("quarantines the bad elements of an array written one element per line, with their lines", async () => {
    const dir = makeProject(pipelineYaml(eventsPipeline()), {
      "landing/in/a.json": [
        "[",
        '  {"id": 1, "email": "a@example.com"},',
        '  {"id": 2, "email": "b@example.com",, },',
        "  42,",
        '  {"id": 4, "email": "d@example.com"}',
        "]",
        "",
      ].join("\n"),
    });
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(0);
    const run = r.json<RunJson>().runs[0]!;
    expect(run.rows).toEqual({ read: 4, loaded: 2, quarantined: 2, malformed: 2, duplicates: 0 });
    const q = await quarantine(dir);
    expect(q.map((x) => [x.line, x.rules, x.reasons[0]])).toEqual([
      [3, ["malformed"], "INVALID JSON: array element is not valid JSON"],
      [4, ["malformed"], "NOT AN OBJECT: array element is valid JSON but not an object"],
    ]);
    // The pipeline masks a column: a row that did not parse never shows its text.
    expect(q.every((x) => !String(x.raw).includes("b@example.com"))).toBe(true);
  });

  it("gives null lines, with a warning, when the array also holds values that are not objects", async () => {
    const dir = makeProject(pipelineYaml(eventsPipeline()), {
      "landing/in/mixed.json":
        '[\n  {"id": 1, "email": "a@example.com"},\n  5,\n  {"id": null, "email": "b@example.com"}\n]\n',
    });
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(0);
    const run = r.json<RunJson>().runs[0]!;
    expect(run.rows).toEqual({ read: 3, loaded: 1, quarantined: 2, malformed: 1, duplicates: 0 });
    expect(run.files[0]!.warnings).toContain(
      "in/mixed.json: line numbers of its elements are unknown (the array holds values that are not objects)",
    );
    const q = await quarantine(dir);
    expect(q.map((x) => [x.line, x.rules[0]]).sort()).toEqual([
      [null, "malformed"],
      [null, "not_null(id)"],
    ]);
  });

  it("fails a truncated or unparseable array by name and loads none of it", async () => {
    const truncated = '[\n  {"id": 1, "email": "a@example.com"},\n  {"id": 2, "em';
    const spanning = '[\n  {\n    "id": 1,,\n    "email": "a@example.com"\n  },\n  {\n    "id": 2\n  }\n]\n';
    for (const [name, content, message] of [
      [
        "cut.json",
        truncated,
        /in\/cut\.json: cannot be read as a JSON array: the array is not closed .*truncated/,
      ],
      ["spans.json", spanning, /in\/spans\.json: cannot be read as a JSON array: .*cannot be set apart/],
    ] as const) {
      const dir = makeProject(pipelineYaml(eventsPipeline()), { [`landing/in/${name}`]: content });
      const r = await sluice(["run", "--json"], dir);
      expect(r.code).toBe(1);
      const run = r.json<RunJson>().runs[0]!;
      expect(run.status).toBe("failed");
      expect(run.files[0]!.status).toBe("failed");
      expect(run.files[0]!.error).toMatch(message);
      expect(run.rows.loaded).toBe(0);
    }
  });

  it("reads .json.gz and .json.zst arrays", async () => {
    const dir = makeProject(pipelineYaml(eventsPipeline()), {
      "landing/in/a.json.gz": gzipSync('[{"id": 1, "email": "a@example.com"},\n {"id": 2}]'),
    });
    await writeWithDuckDb(
      `${dir}/landing/in/b.json.zst`,
      "SELECT 3 AS id, 'c@example.com' AS email UNION ALL SELECT NULL, 'd@example.com'",
      "FORMAT json, ARRAY true, COMPRESSION zstd",
    );
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(0);
    expect(r.json<RunJson>().runs[0]!.rows).toEqual({
      read: 4,
      loaded: 3,
      quarantined: 1,
      malformed: 0,
      duplicates: 0,
    });
    expect((await query(dir, "SELECT id::INT AS id FROM events ORDER BY id")).map((x) => x.id)).toEqual([
      1, 2, 3,
    ]);
    const q = await quarantine(dir);
    expect(q.map((x) => [x.file, x.line])).toEqual([["in/b.json.zst", 3]]);
  });

  it("says to use format: json when a JSON array is read as JSON lines", async () => {
    const dir = makeProject(pipelineYaml(eventsPipeline(", format: jsonl")), {
      "landing/in/a.json": '[\n{"id": 1, "email": "a@example.com"}\n]\n',
    });
    const r = await sluice(["run", "--json"], dir);
    const file = r.json<RunJson>().runs[0]!.files[0]!;
    expect(file.warnings.join("\n")).toMatch(/starts with \[ like a JSON array; .*format: json/);
  });

  it("validate samples a JSON array's columns", async () => {
    const dir = makeProject(
      pipelineYaml(
        `events:\n  source: { path: "in/*.json" }\n  columns:\n    mail: { mask: email }\n  target: { table: events }`,
      ),
      { "landing/in/a.json": JSON.stringify([{ id: 1, email: "a@example.com" }], null, 2) },
    );
    const r = await sluice(["validate"], dir);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/pipelines\.events\.columns\.mail.*no column mail/);
  });
});
