import { describe, expect, it } from "vitest";
import { addFile, makeProject, pipelineYaml, sluice } from "../support/cli.js";

interface SchemaChangeJson {
  column: string;
  change: string;
  from: string | null;
  to: string;
}
interface RunWithChanges {
  run_id: string;
  schema_changes?: SchemaChangeJson[];
}

describe("schema changes", () => {
  it("are printed in the run output and recorded in the run", async () => {
    const dir = makeProject(
      pipelineYaml(`orders:\n  source: { path: "in/*.csv" }\n  target: { table: orders }`),
      {
        "landing/in/a.csv": "id,qty\n1,5\n",
      },
    );
    const first = await sluice(["run", "--json"], dir);
    expect(first.code).toBe(0);
    // Creating the table is not a change of it.
    expect(first.json<{ runs: RunWithChanges[] }>().runs[0]!.schema_changes).toBeUndefined();

    addFile(dir, "landing/in/b.csv", "id,qty,note\n2,5.5,late\n");
    const second = await sluice(["run", "--json"], dir);
    expect(second.code).toBe(0);
    const run = second.json<{ runs: RunWithChanges[] }>().runs[0]!;
    const changes = [...(run.schema_changes ?? [])].sort((a, b) => a.column.localeCompare(b.column));
    expect(changes.map((c) => [c.column, c.change, c.from === null])).toEqual([
      ["note", "added", true],
      ["qty", "widened", false],
    ]);
    expect(changes[1]!.from).toMatch(/^BIGINT$/i);
    expect(changes[1]!.to).toMatch(/^DOUBLE$/i);

    const runs = (await sluice(["runs", "--json"], dir)).json<{ runs: RunWithChanges[] }>();
    expect(runs.runs.find((r) => r.run_id === run.run_id)!.schema_changes).toEqual(run.schema_changes);

    addFile(dir, "landing/in/c.csv", "id,qty,note,extra\n3,1.5,x,y\n");
    const human = await sluice(["run"], dir);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^ {2}schema: column extra added \(VARCHAR\)$/m);
  });
});
