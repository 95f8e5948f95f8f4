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

  it("a footer and a second table are quarantined under their own rules, counted apart from malformed rows", async () => {
    // Default max_failure_rate (5%: 1 malformed row of 27 is within it, 2 would not be) and
    // on_malformed: drop: lines after the table are neither failures nor malformed rows, and are
    // quarantined all the same.
    const dir = makeProject(
      pipelineYaml(`t:\n  source: { path: "in/*.csv", on_malformed: drop }\n  target: { table: t }`),
      {
        "landing/in/a.csv": `id,name,amount\n${Array.from({ length: 25 }, (_, i) => `${i},n${i},${i}.5`).join("\n")}\n1,2,3,4\nTotal,,50\n`,
        "landing/in/b.csv": `id,name,amount\n1,a,2\n2,b,3\n\nReturns\nid,reason\n1,late\n`,
        // Past the 64 KB sample: found in the rejects of the read (the publish's own, single pass).
        "landing/in/c.csv": `id,name,amount\n${Array.from({ length: 4000 }, (_, i) => `${i},name ${i},${i}.25`).join("\n")}\n\nReturns\nid,reason,by,at\n1,late,x,y\n`,
      },
    );
    const r = await sluice(["run", "--json"], dir);
    expect(r.code, r.stderr).toBe(0);
    const files = r.json<RunJson>().runs[0]!.files;
    const a = files.find((f) => f.path === "in/a.csv")!;
    const b = files.find((f) => f.path === "in/b.csv")!;
    expect(a.rows).toMatchObject({ read: 27, loaded: 25, malformed: 1, quarantined: 1 });
    expect(a.csv).toMatchObject({ footer_line: 28, footer_lines: 1 });
    expect(b.rows).toMatchObject({ read: 5, loaded: 2, malformed: 0, quarantined: 3 });
    expect(b.csv).toMatchObject({ second_table_line: 5, second_table_lines: 3 });
    const c = files.find((f) => f.path === "in/c.csv")!;
    expect(c.rows).toMatchObject({ read: 4003, loaded: 4000, malformed: 0, quarantined: 3 });
    expect(c.csv).toMatchObject({ second_table_line: 4003, second_table_lines: 3 });
    expect(c.warnings).toContain(
      "in/c.csv: a second table starts at line 4003; only the first is loaded, the lines from there on are quarantined (rule second_table)",
    );
    const quarantined = (await sluice(["quarantine", "t", "--json"], dir)).json<
      { file: string; line: number; rules: string[]; reasons: string[] }[]
    >();
    expect(quarantined.map((q) => [q.file, q.line, q.rules])).toEqual([
      ["in/a.csv", 28, ["footer"]],
      ["in/b.csv", 5, ["second_table"]],
      ["in/b.csv", 6, ["second_table"]],
      ["in/b.csv", 7, ["second_table"]],
      ["in/c.csv", 4003, ["second_table"]],
      ["in/c.csv", 4004, ["second_table"]],
      ["in/c.csv", 4005, ["second_table"]],
    ]);
    expect(quarantined[0]!.reasons).toEqual(["a total or summary line after the data, not a row"]);
    const text = await sluice(["quarantine", "t"], dir);
    expect(text.stdout).toContain("second_table");
  });
});
