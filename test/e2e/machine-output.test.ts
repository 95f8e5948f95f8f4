import { describe, expect, it } from "vitest";
import { addFile, makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";

// One rule for --json: a list is an object with a named array, newest first; `quarantine` and `query`
// print arrays, as the command-line contract fixes.
describe("--json shapes of list commands", () => {
  it("history, files versions, runs, lake history and quarantine list newest first", async () => {
    const dir = makeProject(
      pipelineYaml(
        `t:\n  source: { path: "in/*.csv" }\n  max_failure_rate: 1\n  columns: { id: { type: bigint } }\n  target:\n    table: t\n    lake: { table: t, format: delta }`,
      ),
    );
    const runIds: string[] = [];
    for (const content of ["id\n1\nx\n", "id\n2\ny\n", "id\n3\n"]) {
      addFile(dir, "landing/in/a.csv", content);
      const r = await sluice(["run", "--json"], dir);
      expect(r.code, r.stderr).toBe(0);
      runIds.push(r.json<RunJson>().runs[0]!.run_id);
    }
    const newestFirst = [...runIds].reverse();

    const history = (await sluice(["history", "t", "--json"], dir)).json<{
      table: string;
      loads: { run_id: string }[];
    }>();
    expect(history.table).toBe("t");
    expect(history.loads.map((l) => l.run_id)).toEqual(newestFirst);

    const files = (await sluice(["files", "versions", "a.csv", "--json"], dir)).json<{
      name: string;
      versions: { version: number; run_id: string }[];
    }>();
    expect(files.versions.map((v) => [v.version, v.run_id])).toEqual([
      [3, runIds[2]],
      [2, runIds[1]],
      [1, runIds[0]],
    ]);

    const runs = (await sluice(["runs", "--json"], dir)).json<{ runs: { run_id: string }[] }>();
    expect(runs.runs.map((r) => r.run_id)).toEqual(newestFirst);

    const lake = (await sluice(["lake", "history", "t", "--json"], dir)).json<{
      table: string;
      history: { version: number }[];
    }>();
    expect(lake.history.map((h) => h.version)).toEqual([2, 1, 0]);

    // The contract's exceptions: arrays.
    const quarantine = (await sluice(["quarantine", "t", "--json"], dir)).json<{ run_id: string }[]>();
    expect(quarantine.map((q) => q.run_id)).toEqual([runIds[1], runIds[0]]);
    const query = (await sluice(["query", "SELECT id FROM t ORDER BY id", "--json"], dir)).json();
    expect(query).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
  });
});
