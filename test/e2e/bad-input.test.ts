import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { addFile, cliPath, makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";
import { writeParquet, writeWithDuckDb } from "../support/files.js";

const loose = (extra = "") =>
  pipelineYaml(
    `t:\n  source: { path: "in/**/*.csv" }\n  max_failure_rate: 1\n${extra}  target: { table: t }`,
  );

async function runJson(
  dir: string,
): Promise<{ code: number | null; run: RunJson["runs"][number]; stderr: string }> {
  const r = await sluice(["run", "--json"], dir);
  return { code: r.code, run: r.json<RunJson>().runs[0]!, stderr: r.stderr };
}

async function rows(dir: string, sql: string): Promise<Record<string, unknown>[]> {
  const r = await sluice(["query", sql, "--json"], dir);
  expect(r.code, r.stderr).toBe(0);
  return r.json();
}

async function quarantine(dir: string): Promise<{ line: number; reasons: string[]; raw: string }[]> {
  return (await sluice(["quarantine", "t", "--json"], dir)).json();
}

describe("bad input files", () => {
  it("an empty file and a header-only file load nothing, say so, and are archived", async () => {
    const dir = makeProject(loose(), { "landing/in/empty.csv": "", "landing/in/header.csv": "a,b\n" });
    const { code, run } = await runJson(dir);
    expect(code).toBe(0);
    const empty = run.files.find((f) => f.path === "in/empty.csv")!;
    expect(empty.status).toBe("loaded");
    expect(empty.warnings).toContain("empty file: nothing to load");
    expect(run.rows.read).toBe(0);
    expect(run.files.every((f) => f.archived_to !== null)).toBe(true);
  });

  it("binary garbage fails the file with one clear line and moves it to unprocessed/", async () => {
    const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256));
    const dir = makeProject(loose(), {
      "landing/in/garbage.csv": garbage,
      "landing/in/good.csv": "a,b\n1,2\n",
    });
    const { code, run } = await runJson(dir);
    expect(code).toBe(1);
    const bad = run.files.find((f) => f.path === "in/garbage.csv")!;
    expect(bad.status).toBe("failed");
    expect(bad.error).toMatch(/^in\/garbage\.csv: cannot be read as CSV/);
    expect(bad.error).not.toContain("\n");
    expect(bad.archived_to).toMatch(/^unprocessed\/t\//);
    expect(existsSync(join(dir, "landing", bad.archived_to!))).toBe(true);
    // The good file of the same run is published.
    expect(await rows(dir, "SELECT a, b FROM t")).toEqual([{ a: 1, b: 2 }]);
  });

  it("handles a BOM, CRLF line ends, duplicate and empty header names", async () => {
    const dir = makeProject(loose(), {
      "landing/in/x.csv": "\uFEFFOrder ID,Amount,,amount,Amount\r\n1,2,3,4,5\r\n",
    });
    const { code, run } = await runJson(dir);
    expect(code).toBe(0);
    expect(run.rows.loaded).toBe(1);
    expect(await rows(dir, "SELECT order_id, amount, column_3, amount_2, amount_3 FROM t")).toEqual([
      { order_id: 1, amount: 2, column_3: 3, amount_2: 4, amount_3: 5 },
    ]);
  });

  it("line breaks and quotes inside quoted fields load as written, in a file big enough to read in parallel", async () => {
    const names = (i: number) => [`line\nbreak ${i}`, `say "hi" ${i}`, `a,b ${i}`, `x\n\ny ${i}`][i % 4]!;
    const body = Array.from({ length: 20_000 }, (_, i) => `${i},"${names(i).replaceAll('"', '""')}"`);
    const dir = makeProject(loose(), { "landing/in/q.csv": `id,name\n${body.join("\n")}\n` });
    const { code, run } = await runJson(dir);
    expect(code).toBe(0);
    expect(run.rows).toMatchObject({ read: 20_000, loaded: 20_000, quarantined: 0 });
    const got = await rows(dir, "SELECT id, name FROM t WHERE id IN (0, 1, 2, 3, 19999) ORDER BY id");
    expect(got).toEqual([0, 1, 2, 3, 19999].map((id) => ({ id, name: names(id) })));
  });

  it("latin-1 bytes in a UTF-8 file are quarantined; encoding: latin-1 reads them", async () => {
    const bytes = Buffer.concat([
      Buffer.from("id,name\n1,ok\n2,caf"),
      Buffer.from([0xe9]),
      Buffer.from("\n"),
    ]);
    const dir = makeProject(loose(), { "landing/in/l.csv": bytes });
    const { run } = await runJson(dir);
    expect(run.rows).toMatchObject({ read: 2, loaded: 1, quarantined: 1 });
    expect((await quarantine(dir))[0]!.reasons[0]).toMatch(/^INVALID ENCODING/);

    const latin = makeProject(
      pipelineYaml(
        `t:\n  source: { path: "in/*.csv", options: { encoding: latin-1 } }\n  target: { table: t }`,
      ),
      { "landing/in/l.csv": bytes },
    );
    expect((await runJson(latin)).run.rows.loaded).toBe(2);
    expect(await rows(latin, "SELECT name FROM t ORDER BY id")).toEqual([{ name: "ok" }, { name: "café" }]);
  });

  it("ragged rows, an unterminated quote and a 10 MB line become quarantined rows with their lines", async () => {
    const long = "x".repeat(10 * 1024 * 1024);
    const text = [
      "id,name",
      '1,"fine"',
      "2,too,many",
      "3",
      `4,${long}`,
      "5,ok",
      '6,"never closed',
      "7,lost?",
    ].join("\n");
    const dir = makeProject(loose(), { "landing/in/r.csv": `${text}\n` });
    const { code, run } = await runJson(dir);
    expect(code).toBe(0);
    expect(await rows(dir, "SELECT id FROM t ORDER BY id")).toEqual([{ id: 1 }, { id: 5 }]);
    const q = await quarantine(dir);
    const byLine = new Map(q.map((r) => [r.line, r]));
    expect(byLine.get(3)!.reasons[0]).toMatch(/TOO MANY COLUMNS/);
    expect(byLine.get(4)!.reasons[0]).toMatch(/MISSING COLUMNS/);
    expect(byLine.get(5)!.reasons[0]).toMatch(/LINE SIZE OVER MAXIMUM/);
    expect(byLine.get(7)!.reasons[0]).toMatch(/UNQUOTED VALUE|unterminated quote/i);
    // Nothing vanished: the unterminated quote swallowed line 8, whose text is kept in the raw record.
    expect(byLine.get(7)!.raw).toContain("7,lost?");
    expect(run.rows.read).toBe(run.rows.loaded + run.rows.quarantined);
  }, 120_000);

  it("a 20 MB line in a gzipped CSV is quarantined, the file still sniffed and loaded", async () => {
    // Compressed bytes say nothing about line lengths: the sniffer keeps its big buffer for them.
    const lines = ["id,name", `1,${"x".repeat(20 * 1024 * 1024)}`];
    for (let i = 2; i <= 40; i++) lines.push(`${i},n${i}`);
    const dir = makeProject(
      pipelineYaml(`t:\n  source: { path: "in/*.csv.gz" }\n  max_failure_rate: 1\n  target: { table: t }`),
      { "landing/in/long.csv.gz": gzipSync(`${lines.join("\n")}\n`) },
    );
    const { code, run } = await runJson(dir);
    expect(code).toBe(0);
    expect(run.rows).toMatchObject({ read: 40, loaded: 39, malformed: 1 });
    const q = await quarantine(dir);
    expect(q.map((r) => [r.line, r.reasons[0]])).toEqual([
      [2, expect.stringMatching(/LINE SIZE OVER MAXIMUM/)],
    ]);
  }, 120_000);

  it("a header that looks like SQL is only ever a column name", async () => {
    const header = '"; DROP TABLE t; --",id';
    const dir = makeProject(
      pipelineYaml(`t:\n  source: { path: "in/*.csv" }\n  naming: keep\n  target: { table: t }`),
      { "landing/in/a.csv": `${header}\nx,1\n` },
    );
    expect((await runJson(dir)).code).toBe(0);
    expect(await rows(dir, `SELECT "; DROP TABLE t; --" AS v, id FROM t`)).toEqual([{ v: "x", id: 1 }]);
  });

  it("file names with spaces, quotes, dots and unicode load and archive", async () => {
    const names = ["in/with space.csv", 'in/it\'s "quoted".csv', "in/a..b.csv", "in/ünïcødé 数据.csv"];
    const files = Object.fromEntries(names.map((n, i) => [`landing/${n}`, `id\n${i}\n`]));
    const dir = makeProject(loose(), files);
    const { code, run } = await runJson(dir);
    expect(code).toBe(0);
    expect(run.files.map((f) => f.status)).toEqual(["loaded", "loaded", "loaded", "loaded"]);
    expect((await rows(dir, "SELECT count(*)::INT AS n FROM t"))[0]).toEqual({ n: 4 });
    expect(readdirSync(join(dir, "landing/in"))).toEqual([]);
  });

  // DuckDB's readers expand *, ? and [...] in a path: `b[1].csv` would read b1.csv, `s*.csv` every s file.
  it.each([
    ["single pass", {}],
    ["staged", { SLUICE_SINGLE_PASS: "0" }],
  ])(
    "file names with glob characters are read literally: CSV, gzip, JSON lines, Parquet (%s)",
    async (_, env) => {
      const yaml = pipelineYaml(`c:
  source: { path: "in/csv/*" }
  max_failure_rate: 1
  target: { table: c }
j:
  source: { path: "in/json/*.jsonl" }
  target: { table: j }
p:
  source: { path: "in/pq/*.parquet" }
  target: { table: p }`);
      const dir = makeProject(yaml, {
        "landing/in/csv/b[1].csv": "id\n3\n3,too,many\n",
        "landing/in/csv/b1.csv": "id\n4\n",
        "landing/in/csv/s*.csv": "id\n5\n",
        "landing/in/csv/sa.csv": "id\n6\n",
        "landing/in/csv/q?.csv.gz": gzipSync("id\n7\n"),
        "landing/in/csv/qa.csv.gz": gzipSync("id\n8\n"),
        "landing/in/csv/c{1,2}.csv": "id\n9\n",
        "landing/in/json/j[1].jsonl": '{"id": 3}\n',
        "landing/in/json/j1.jsonl": '{"id": 4}\n',
        "landing/in/json/k**.jsonl": '{"id": 5}\n',
        "landing/in/json/ka.jsonl": '{"id": 6}\n',
      });
      mkdirSync(join(dir, "landing/in/pq"));
      await writeParquet(join(dir, "landing/in/pq/p_1.parquet"), "SELECT 3::BIGINT AS id");
      renameSync(join(dir, "landing/in/pq/p_1.parquet"), join(dir, "landing/in/pq/p[1].parquet"));
      await writeParquet(join(dir, "landing/in/pq/p1.parquet"), "SELECT 4::BIGINT AS id");
      const r = await sluice(["run", "--json"], dir, { env });
      expect(r.code, r.stderr).toBe(0);
      const runs = r.json<RunJson>().runs;
      for (const run of runs) {
        for (const file of run.files) {
          expect(file.status, file.error ?? "").toBe("loaded");
          // The real name everywhere: the report, the archive.
          const name = file.path
            .split("/")
            .pop()!
            .replace(/(\.\w+)+$/, "");
          expect(file.archived_to).toContain(`/${name}_`);
          expect(existsSync(join(dir, "landing", file.archived_to!))).toBe(true);
        }
      }
      const lineage = (table: string) =>
        rows(dir, `SELECT id, _sluice_source_file AS f FROM ${table} ORDER BY id`);
      expect(await lineage("c")).toEqual([
        { id: 3, f: "in/csv/b[1].csv" },
        { id: 4, f: "in/csv/b1.csv" },
        { id: 5, f: "in/csv/s*.csv" },
        { id: 6, f: "in/csv/sa.csv" },
        { id: 7, f: "in/csv/q?.csv.gz" },
        { id: 8, f: "in/csv/qa.csv.gz" },
        { id: 9, f: "in/csv/c{1,2}.csv" },
      ]);
      expect(await lineage("j")).toEqual([
        { id: 3, f: "in/json/j[1].jsonl" },
        { id: 4, f: "in/json/j1.jsonl" },
        { id: 5, f: "in/json/k**.jsonl" },
        { id: 6, f: "in/json/ka.jsonl" },
      ]);
      expect(await lineage("p")).toEqual([
        { id: 3, f: "in/pq/p[1].parquet" },
        { id: 4, f: "in/pq/p1.parquet" },
      ]);
      const q = (await sluice(["quarantine", "c", "--json"], dir)).json<{ file: string; line: number }[]>();
      expect(q.map((x) => [x.file, x.line])).toEqual([["in/csv/b[1].csv", 3]]);
    },
  );

  // DuckDB reads a cut gzip or zstd file without an error, as if it ended there; a bad CRC unnoticed.
  it.each([
    ["read while hashed, single pass", {}, []],
    ["read while hashed, staged", { SLUICE_SINGLE_PASS: "0" }, []],
    ["hashed before the read (--force)", {}, ["--force"]],
  ])(
    "a truncated or corrupt gzip or zstd file fails and moves to unprocessed/, nothing of it published (%s)",
    async (_, env, flags) => {
      const csv = `id,name\n${Array.from({ length: 3000 }, (_, i) => `${i + 1},n${i + 1}`).join("\n")}\n`;
      const jsonl = `${Array.from({ length: 3000 }, (_, i) => `{"id": ${i + 1}, "name": "n${i + 1}"}`).join("\n")}\n`;
      const badCrc = gzipSync(csv);
      badCrc[badCrc.length - 6]! ^= 0xff;
      const yaml = pipelineYaml(`c:
  source: { path: "in/*.csv.*" }
  target: { table: c }
j:
  source: { path: "in/*.jsonl.gz" }
  target: { table: j }`);
      const dir = makeProject(yaml, {
        "landing/in/trunc.csv.gz": gzipSync(csv).subarray(0, 3000),
        "landing/in/crc.csv.gz": badCrc,
        // Two gzip members are one valid stream.
        "landing/in/good.csv.gz": Buffer.concat([gzipSync("id,name\n1,a\n"), gzipSync("2,b\n")]),
        "landing/in/trunc.jsonl.gz": gzipSync(jsonl).subarray(0, 3000),
        "landing/in/good.jsonl.gz": gzipSync('{"id": 1, "name": "a"}\n'),
      });
      await writeWithDuckDb(
        join(dir, "landing/in/cut.csv.zst"),
        "SELECT range AS id, 'n' || range AS name FROM range(3000)",
        "FORMAT csv, HEADER, COMPRESSION zstd",
      );
      truncateSync(join(dir, "landing/in/cut.csv.zst"), 2000);
      await writeWithDuckDb(
        join(dir, "landing/in/good.csv.zst"),
        "SELECT 3 AS id, 'c' AS name",
        "FORMAT csv, HEADER, COMPRESSION zstd",
      );

      const r = await sluice(["run", "--json", ...flags], dir, { env });
      expect(r.code, r.stderr).toBe(1);
      const files = r.json<RunJson>().runs.flatMap((run) => run.files);
      const status = Object.fromEntries(files.map((f) => [f.path, f.status]));
      expect(status).toEqual({
        "in/crc.csv.gz": "failed",
        "in/cut.csv.zst": "failed",
        "in/good.csv.gz": "loaded",
        "in/good.csv.zst": "loaded",
        "in/trunc.csv.gz": "failed",
        "in/good.jsonl.gz": "loaded",
        "in/trunc.jsonl.gz": "failed",
      });
      const error = (path: string) => files.find((f) => f.path === path)!.error;
      expect(error("in/trunc.csv.gz")).toMatch(
        /^in\/trunc\.csv\.gz: the gzip data is truncated .*nothing of it is published$/,
      );
      expect(error("in/crc.csv.gz")).toMatch(
        /^in\/crc\.csv\.gz: the gzip data is corrupt \(incorrect data check\)/,
      );
      expect(error("in/cut.csv.zst")).toMatch(/^in\/cut\.csv\.zst: the zstd data is truncated/);
      expect(error("in/trunc.jsonl.gz")).toMatch(/^in\/trunc\.jsonl\.gz: the gzip data is truncated/);
      for (const f of files.filter((f) => f.status === "failed")) {
        expect(f.archived_to).toMatch(/^unprocessed\//);
        expect(existsSync(join(dir, "landing", f.archived_to!))).toBe(true);
      }
      expect(await rows(dir, "SELECT id, name, _sluice_source_file AS f FROM c ORDER BY id")).toEqual([
        { id: 1, name: "a", f: "in/good.csv.gz" },
        { id: 2, name: "b", f: "in/good.csv.gz" },
        { id: 3, name: "c", f: "in/good.csv.zst" },
      ]);
      expect(await rows(dir, "SELECT id, _sluice_source_file AS f FROM j")).toEqual([
        { id: 1, f: "in/good.jsonl.gz" },
      ]);
    },
  );

  it("validate learns a pipeline's columns from a sample whose name holds glob characters, not from another file", async () => {
    const yaml = pipelineYaml(`t:
  source: { path: "in/*.csv" }
  checks: [{ rule: not_null, columns: [id] }]
  target: { table: t }`);
    // The newest pending file is the sample; `b[1].csv` read as a glob would be b1.csv (columns: x).
    const dir = makeProject(yaml, { "landing/in/b1.csv": "x\n4\n", "landing/in/b[1].csv": "id\n3\n" });
    const r = await sluice(["validate"], dir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });
});

describe("bad project files", () => {
  it("a missing sluice.yaml is a one-line error with exit code 2", async () => {
    const dir = makeProject("");
    const r = await sluice(["run", "--config", "nope.yaml"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(
      /^error: nope\.yaml: not found in .+ \(run `sluice init` or pass --config <file>\)$/,
    );
  });

  it("a malformed sluice.yaml names the line; validate lists every problem", async () => {
    const dir = makeProject("pipelines:\n  orders: [\n");
    const r = await sluice(["validate"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: sluice\.yaml: line \d+:\d+: /);
    writeFileSync(
      join(dir, "sluice.yaml"),
      pipelineYaml(
        `orders:\n  source: { path: "in/*.csv", format: xml }\n  derive: { y: "1; DROP TABLE x" }\n  target: { table: o }`,
      ),
    );
    const v = await sluice(["validate", "--json"], dir);
    expect(v.code).toBe(2);
    // Each problem names its file, key path, code and message; `text` is the line a person reads.
    expect(v.json()).toEqual({
      valid: false,
      problems: [
        {
          file: "sluice.yaml",
          path: "pipelines.orders.source.format",
          code: "CONFIG_INVALID",
          message: "expected one of csv, jsonl, json, parquet, avro",
          line: expect.any(Number),
          text: "sluice.yaml: pipelines.orders.source.format: expected one of csv, jsonl, json, parquet, avro",
        },
      ],
    });
    writeFileSync(
      join(dir, "sluice.yaml"),
      pipelineYaml(
        `orders:\n  source: { path: "in/*.csv" }\n  derive: { y: "1; DROP TABLE x", z: "amount *" }\n  target: { table: o }`,
      ),
    );
    const d = await sluice(["validate"], dir);
    expect(d.code).toBe(2);
    expect(d.stderr).toContain(
      "sluice.yaml: pipelines.orders.derive.y: must be a single expression: remove the ';'",
    );
    expect(d.stderr).toMatch(/sluice\.yaml: pipelines\.orders\.derive\.z: .*syntax error/);
  });

  it("a derived column's refused SQL is never run, not even against a sample file", async () => {
    // Closing the expression's parentheses would smuggle a statement into the probe that binds it.
    const dir = makeProject(
      pipelineYaml(`t:
  source: { path: "in/*.csv" }
  derive:
    x: "1)) AS \\"type\\" FROM (SELECT 1); COPY (SELECT 42) TO 'pwned.csv'; SELECT ((1"
  target: { table: t }`),
      { "landing/in/a.csv": "id,v\n1,x\n" },
    );
    const r = await sluice(["validate"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toEqual([
      "error: sluice.yaml: pipelines.t.derive.x: has a ')' without a matching '('",
    ]);
    expect(existsSync(join(dir, "pwned.csv"))).toBe(false);
  });

  it("an unknown pipeline name is a usage error", async () => {
    const dir = makeProject(loose());
    const r = await sluice(["run", "nope"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown pipeline nope");
  });
});

describe("a warehouse locked by another process", () => {
  /** Another process holding the warehouse file open for writing until it is killed. */
  function holdWarehouse(file: string): Promise<ChildProcess> {
    const script = `import('@duckdb/node-api').then(async ({ DuckDBInstance }) => {
      const i = await DuckDBInstance.create(${JSON.stringify(file)}); process.stdout.write('held\\n');
      // Keep the instance reachable: a collected instance would release the lock.
      globalThis.heldWarehouse = i; setInterval(() => void globalThis.heldWarehouse, 1000);
    })`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      cwd: process.cwd(),
      stdio: ["ignore", "pipe", "inherit"],
    });
    return new Promise((resolve) => child.stdout!.once("data", () => resolve(child)));
  }

  function stopped(child: ChildProcess): Promise<void> {
    return new Promise((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  }

  it("waits with a message and proceeds when it is released; gives up clearly otherwise", async () => {
    const dir = makeProject(loose(), { "landing/in/a.csv": "id\n1\n" });
    await sluice(["run"], dir); // creates the warehouse
    addFile(dir, "landing/in/b.csv", "id\n2\n");
    const holder = await holdWarehouse(join(dir, "warehouse.duckdb"));
    const waiting = spawn(process.execPath, [cliPath, "run"], {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    const done = new Promise<number | null>((resolve) => waiting.on("exit", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no waiting notice; stderr: ${stderr}`)), 60_000);
      waiting.stderr!.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (/waiting for .*warehouse\.duckdb: in use by another Sluice process \(PID \d+\)/.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    await stopped(holder);
    expect(await done).toBe(0);

    addFile(dir, "landing/in/c.csv", "id\n3\n");
    const again = await holdWarehouse(join(dir, "warehouse.duckdb"));
    const gaveUp = await sluice(["run"], dir, { env: { SLUICE_LOCK_WAIT: "2s" } });
    await stopped(again);
    expect(gaveUp.code).toBe(1);
    expect(gaveUp.stderr).toMatch(/locked by another Sluice process .*gave up after \d+s/);
    expect(existsSync(join(dir, "landing/in/c.csv"))).toBe(true);
    expect((await sluice(["run"], dir)).code).toBe(0);
    expect(await rows(dir, "SELECT id FROM t ORDER BY id")).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
  }, 180_000);
});
