import { describe, expect, it } from "vitest";
import { addFile, makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";

// Files past what Sluice reads within its memory limit are refused before reading, named; the limits
// are documented (docs/configuration.md, "Reading files").

const loose = (path = "in/*.*") =>
  pipelineYaml(`t:\n  source: { path: "${path}" }\n  max_failure_rate: 1\n  target: { table: t }`);

async function runJson(dir: string) {
  const r = await sluice(["run", "--json"], dir);
  return { code: r.code, run: r.json<RunJson>().runs[0]!, stderr: r.stderr };
}

const wide = (n: number, delimiter = ",") =>
  `${Array.from({ length: n }, (_, i) => `c${i}`).join(delimiter)}\n${Array.from({ length: n }, (_, i) => i).join(delimiter)}\n`;

describe("read limits", () => {
  it("a file with more than 2000 columns is refused before reading; 2000 load", async () => {
    const dir = makeProject(loose(), {
      "landing/in/wide.csv": wide(2001),
      "landing/in/semi.csv": wide(2500, ";"),
      "landing/in/ok.csv": wide(2000),
    });
    const { code, run } = await runJson(dir);
    expect(code).toBe(1);
    const byPath = Object.fromEntries(run.files.map((f) => [f.path, f]));
    expect(byPath["in/wide.csv"]!.error).toBe(
      "in/wide.csv: its header has about 2001 columns, more than the 2000 Sluice reads in one file; split the file by columns or select fewer columns upstream; nothing of it is published",
    );
    expect(byPath["in/semi.csv"]!.error).toMatch(/^in\/semi\.csv: its header has about 2500 columns/);
    expect(byPath["in/wide.csv"]!.archived_to).toMatch(/^unprocessed\//);
    expect(byPath["in/ok.csv"]!.status).toBe("loaded");
  }, 120_000);
});

describe("schema evolution limit", () => {
  it("more than 1000 new columns onto an existing table fail the run, named, before any ALTER", async () => {
    const dir = makeProject(loose(), { "landing/in/a.csv": "c0,c1\n1,2\n" });
    expect((await runJson(dir)).code).toBe(0);
    addFile(dir, "landing/in/b.csv", wide(1003));
    const { code, run } = await runJson(dir);
    expect(code).toBe(1);
    expect(run.error ?? run.files[0]!.error).toMatch(
      /table t: 1001 new columns arrive, more than the 1000 one run adds to a table/,
    );
    const columns = await sluice(
      ["query", "SELECT count(*) AS n FROM duckdb_columns() WHERE table_name = 't'", "--json"],
      dir,
    );
    expect(columns.json<{ n: number }[]>()[0]!.n).toBe(5);
  }, 120_000);
});
