import { describe, expect, it } from "vitest";
import { makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";

// DuckDB's identifiers ignore case: header names differing only in case are one name to it. Kept names
// (`naming: keep`) are made unique ignoring case, and columns declared on them by their names in the
// rows take their types and masks.

describe("naming: keep with header names differing only in case", () => {
  it("E,e load as E and e_2, each with its own declared mask", async () => {
    const dir = makeProject(
      pipelineYaml(
        `t:\n  source: { path: "in/*.csv" }\n  naming: keep\n  columns: { E: { mask: redact }, e_2: { mask: last4 } }\n  target: { table: t }`,
      ),
      { "landing/in/a.csv": "id,E,e\n1,secret-upper,123456789\n2,other-upper,987654321\n" },
    );
    const r = await sluice(["run", "--json"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json<RunJson>().runs[0]!.rows).toMatchObject({ read: 2, loaded: 2 });
    const q = await sluice(["query", `SELECT id, "E", e_2 FROM t ORDER BY id`, "--csv"], dir);
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout).not.toContain("secret-upper");
    expect(q.stdout).not.toContain("123456789");
    const header = q.stdout.split("\n")[0];
    expect(header).toBe("id,E,e_2");
    expect(q.stdout).toContain("6789");
  });
});
