import { describe, expect, it } from "vitest";
import { parseProjectText } from "../../src/project/load-config.js";
import { lakeFormatProblems, lakeTargetProblems } from "../../src/project/validate-lake-target.js";

function problemsFor(table: string) {
  const config = parseProjectText(
    `pipelines:\n  p:\n    source: { path: "in/*.csv" }\n    target: { lake: { table: ${JSON.stringify(table)} } }\n`,
    "sluice.yaml",
    {},
  );
  return lakeTargetProblems(config.pipelines.p!, "pipelines.p");
}

describe("lake target table names", () => {
  it("accept one folder name under the lake root", () => {
    for (const table of ["orders", "My-Events", "_raw", "ünï", "a.b"]) expect(problemsFor(table)).toEqual([]);
  });

  it("refuse paths, . and .., and hidden folders, naming the key", () => {
    for (const table of ["../escape", "a/b", "a\\b", ".", "..", ".sluice-tmp"]) {
      const problems = problemsFor(table);
      expect(problems, table).toHaveLength(1);
      expect(problems[0]?.path).toBe("pipelines.p.target.lake.table");
      expect(problems[0]?.message).toContain(`"${table}"`);
    }
  });
});

describe("pipelines sharing a lake table", () => {
  const pipelines = (formatA: string, formatB: string) =>
    parseProjectText(
      `pipelines:
  a:
    source: { path: "in/*.csv" }
    target: { lake: { table: t, format: ${formatA} } }
  b:
    source: { path: "in2/*.csv" }
    target: { lake: { table: t, format: ${formatB} } }
  c:
    source: { path: "in3/*.csv" }
    target: { lake: { table: other, format: parquet } }
`,
      "sluice.yaml",
      {},
    ).pipelines;

  it("may share it in one format", () => {
    expect(lakeFormatProblems(pipelines("delta", "delta"))).toEqual([]);
  });

  it("may not mix Delta and Parquet in one folder", () => {
    expect(lakeFormatProblems(pipelines("parquet", "delta"))).toEqual([
      {
        path: "pipelines.b.target.lake.format",
        message:
          "lake table t is delta here but parquet in pipeline a; pipelines writing one lake table must use one format",
      },
    ]);
  });
});
