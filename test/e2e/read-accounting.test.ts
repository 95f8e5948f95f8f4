import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";
import { writeZstdText } from "../support/files.js";

// Every line of a source file is a header, a blank line, a row read (loaded or quarantined) or part of a
// quoted value: a read that leaves lines unaccounted for fails the file, named, instead of publishing
// what the reader kept. The lines are counted as the file is hashed, independently of DuckDB's reader.

const loose = (path = "in/*.*", options = "") =>
  pipelineYaml(`t:\n  source: { path: "${path}"${options} }\n  max_failure_rate: 1\n  target: { table: t }`);

async function runJson(dir: string) {
  const r = await sluice(["run", "--json"], dir);
  return { code: r.code, run: r.json<RunJson>().runs[0]!, stderr: r.stderr };
}

const rowsOf = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `${from + i},x${from + i}`).join("\n");

describe("a read is checked against the file's lines", () => {
  it("a header with an unbalanced quote is repaired: every row loads, and the report says so", async () => {
    const dir = makeProject(loose(), { "landing/in/q.csv": `id,"name,v\n${rowsOf(0, 100)}\n` });
    const { code, run } = await runJson(dir);
    expect(code).toBe(0);
    const file = run.files[0]!;
    expect(file.status).toBe("loaded");
    expect(file.rows).toMatchObject({ read: 100, loaded: 100, malformed: 0 });
    expect(file.warnings).toContain(
      'in/q.csv: read with a detected layout: delimiter ",", header at line 1 (repaired)',
    );
  });

  it.each(["gz", "zst"])(
    "where the layout is not checked (a compressed file), such a header fails the file instead of loading 0 rows (%s)",
    async (suffix) => {
      const text = `id,"name,v\n${rowsOf(0, 100)}\n`;
      const dir = makeProject(loose(), suffix === "gz" ? { "landing/in/q.csv.gz": gzipSync(text) } : {});
      if (suffix === "zst") {
        mkdirSync(join(dir, "landing/in"), { recursive: true });
        await writeZstdText(join(dir, "landing/in/q.csv.zst"), text);
      }
      const { code, run } = await runJson(dir);
      expect(code).toBe(1);
      const file = run.files[0]!;
      expect(file.status).toBe("failed");
      expect(file.error).toMatch(
        new RegExp(`^in/q\\.csv\\.${suffix}: 100 of its 101 lines were neither read as rows nor quarantined`),
      );
      expect(file.archived_to).toMatch(/^unprocessed\/t\//);
    },
  );

  it("a line bigger than the reader's buffer fails the file, named, instead of vanishing", async () => {
    // DuckDB skips a line larger than its 32 MiB buffer without a reject (a smaller overlong one is
    // rejected): such a line near the start is refused before reading; deeper in a file, the count of
    // lines read fails it after the read.
    const big = `1000,${"y".repeat(33 * 1024 * 1024)}`;
    const dir = makeProject(loose(), {
      "landing/in/big.csv": `id,v\n${rowsOf(0, 1000)}\n${big}\n${rowsOf(1001, 2000)}\n`,
      "landing/in/one.csv": big,
    });
    const { code, run } = await runJson(dir);
    expect(code).toBe(1);
    const errors = Object.fromEntries(run.files.map((f) => [f.path, f.error]));
    expect(errors).toEqual({
      "in/big.csv":
        "in/big.csv: line 1002 is longer than 32 MiB, the longest line Sluice reads; nothing of the file is published",
      "in/one.csv":
        "in/one.csv: line 1 is longer than 32 MiB, the longest line Sluice reads; nothing of the file is published",
    });
    expect(run.rows.loaded).toBe(0);
    expect(run.files.every((f) => f.archived_to?.startsWith("unprocessed/"))).toBe(true);
  }, 60_000);

  it("blank lines, line breaks inside quoted values and every line-end style still load whole", async () => {
    const body = ["id,v", "1,a", "", '2,"two', 'lines"', "", "", "3,c", "4,d"];
    const dir = makeProject(loose(), {
      "landing/in/lf.csv": `${body.join("\n")}\n`,
      "landing/in/crlf.csv": `${body.join("\r\n")}\r\n`,
      "landing/in/cr.csv": body.join("\r"),
    });
    const { code, run, stderr } = await runJson(dir);
    expect(code, stderr).toBe(0);
    expect(run.files.map((f) => [f.path, f.status]).sort()).toEqual([
      ["in/cr.csv", "loaded"],
      ["in/crlf.csv", "loaded"],
      ["in/lf.csv", "loaded"],
    ]);
    expect(run.rows).toMatchObject({ read: 12, loaded: 12 });
  });

  it("JSON lines with CRLF line ends: quarantined lines carry their own line numbers", async () => {
    const lines = ['{"a":1}', '{"a":2}', "not json", '{"a":4}', "[1]", '{"a":6}'];
    const dir = makeProject(loose(), { "landing/in/e.jsonl": `${lines.join("\r\n")}\r\n` });
    const { code, run } = await runJson(dir);
    expect(code).toBe(0);
    expect(run.rows).toMatchObject({ read: 6, loaded: 4, quarantined: 2 });
    const quarantined = (await sluice(["quarantine", "t", "--json"], dir)).json<{ line: number }[]>();
    expect(quarantined.map((q) => q.line).sort()).toEqual([3, 5]);
  });
});

describe("UTF-16", () => {
  it("big- and little-endian files with a BOM and characters beyond the BMP load as written", async () => {
    const text = "id,name\n1,Zoë 😀\n2,日本\n";
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]);
    const be = Buffer.from(le);
    be.swap16();
    const dir = makeProject(loose("in/*.*", ", options: { encoding: utf-16 }"), {
      "landing/in/le.csv": le,
      "landing/in/be.csv": be,
    });
    const { code, run, stderr } = await runJson(dir);
    expect(code, stderr).toBe(0);
    expect(run.rows).toMatchObject({ read: 4, loaded: 4 });
    const q = await sluice(
      ["query", "SELECT _sluice_source_file AS f, id, name FROM t ORDER BY f, id", "--json"],
      dir,
    );
    expect(q.json()).toEqual([
      { f: "in/be.csv", id: 1, name: "Zoë 😀" },
      { f: "in/be.csv", id: 2, name: "日本" },
      { f: "in/le.csv", id: 1, name: "Zoë 😀" },
      { f: "in/le.csv", id: 2, name: "日本" },
    ]);
  });
});

describe("mixed line ends", () => {
  it("a file mixing \\r\\n, \\n and \\r line ends loads every row whole", async () => {
    const dir = makeProject(loose(), { "landing/in/m.csv": "id,name\r\n1,a\n2,b\r3,c\r\n4,d\n" });
    const { code, run, stderr } = await runJson(dir);
    expect(code, stderr).toBe(0);
    expect(run.rows).toMatchObject({ read: 4, loaded: 4 });
    const q = await sluice(["query", "SELECT id, name FROM t ORDER BY id", "--json"], dir);
    expect(q.json()).toEqual([
      { id: 1, name: "a" },
      { id: 2, name: "b" },
      { id: 3, name: "c" },
      { id: 4, name: "d" },
    ]);
  });
});
