import { describe, expect, it } from "vitest";
import { makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";

// A messy file through a whole run: what the detection repaired is said in the file's warnings, and a
// quarantined row keeps its line number in the file as it was (preamble lines counted).

const loose = () =>
  pipelineYaml(`t:\n  source: { path: "in/*.csv" }\n  max_failure_rate: 1\n  target: { table: t }`);

const rows = Array.from({ length: 30 }, (_, i) => `${i + 1};name ${i + 1};${i},5`);

describe("messy CSV in a run", () => {
  it("a spreadsheet export with a title, ; and decimal commas loads typed; a bad row keeps its line", async () => {
    const body = rows.map((r, i) => (i === 9 ? `;${r}` : r));
    const dir = makeProject(loose(), {
      "landing/in/export.csv": `Orders export;;\n\nid;name;amount\n${body.join("\n")}\n`,
    });
    const r = await sluice(["run", "--json"], dir);
    expect(r.code, r.stderr).toBe(0);
    const file = r.json<RunJson>().runs[0]!.files[0]!;
    expect(file.rows).toMatchObject({ read: 30, loaded: 29, quarantined: 1, malformed: 1 });
    expect(file.warnings).toContain(
      'in/export.csv: read with a detected layout: delimiter ";", 2 line(s) before the header skipped, header at line 3, decimal separator ","',
    );
    expect(file.csv).toEqual({
      source: "repaired",
      delimiter: ";",
      quote: '"',
      escape: '"',
      header_line: 3,
      preamble_lines: 2,
      padding_trimmed: false,
      header_repaired: false,
      decimal_separator: ",",
    });
    const quarantined = (await sluice(["quarantine", "t", "--json"], dir)).json<{ line: number }[]>();
    expect(quarantined.map((q) => q.line)).toEqual([13]);
    const sum = await sluice(
      ["query", "SELECT sum(amount) AS s, typeof(any_value(amount)) AS t FROM t", "--json"],
      dir,
    );
    expect(sum.json<{ s: number; t: string }[]>()).toEqual([{ s: 435 - 9 + 29 * 0.5, t: "DOUBLE" }]);
  });
});
