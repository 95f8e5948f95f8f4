import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";

/** A pipeline beside a lake table whose checks and malformed-row handling each step of a test sets. */
const yaml = (checks: string, onMalformed = "quarantine") =>
  pipelineYaml(`orders:
  source: { path: "in/*.csv", on_malformed: ${onMalformed} }
  max_failure_rate: 1
  checks:
${checks
  .trim()
  .split("\n")
  .map((l) => `    ${l.trim()}`)
  .join("\n")}
  target:
    table: orders
    lake: { table: orders }`);

/** Rows per (source file, id) in the warehouse and in the lake. */
async function rowsIn(dir: string): Promise<{ warehouse: string[]; lake: string[] }> {
  const of = async (table: string) => {
    const q = await sluice(
      [
        "query",
        `SELECT _sluice_source_file || ':' || id || 'x' || count(*) AS r FROM ${table} GROUP BY _sluice_source_file, id ORDER BY 1`,
        "--json",
      ],
      dir,
    );
    expect(q.code, q.stderr).toBe(0);
    return q.json<{ r: string }[]>().map((row) => row.r);
  };
  return { warehouse: await of("orders"), lake: await of("lake.orders") };
}

/** Replays `runId`, killed between its lake commit and its warehouse commit. */
async function replayAndCrash(dir: string, runId: string): Promise<void> {
  const crashed = await sluice(["replay", runId], dir, { env: { SLUICE_FAILPOINT: "after-lake-commit" } });
  expect(crashed.signal, crashed.stderr).toBe("SIGKILL");
}

async function firstRun(dir: string): Promise<string> {
  const r = await sluice(["run", "--json"], dir);
  const run = r.json<RunJson>().runs[0]!;
  expect(run.files.map((f) => [f.path, f.status])).toEqual([
    ["in/a.csv", "failed"],
    ["in/b.csv", "loaded"],
  ]);
  return run.run_id;
}

describe("lake target: replaying a run after a crash between the lake commit and the warehouse commit", () => {
  it("quarantined rows the interrupted replay wrote to the lake are not written again", async () => {
    const dir = makeProject(yaml("- { rule: range, column: amount, max: 10 }", "fail"), {
      "landing/in/a.csv": "id,amount\n1,5\n2,6,7\n3,8\n",
      "landing/in/b.csv": "id,amount\n11,5\n12,50\n13,60\n",
    });
    const original = await firstRun(dir);
    // The quarantined rows of b.csv pass now; a.csv (in unprocessed/) still fails: only b reaches the lake.
    writeFileSync(join(dir, "sluice.yaml"), yaml("- { rule: range, column: amount, max: 100 }", "fail"));
    await replayAndCrash(dir, original);
    writeFileSync(join(dir, "sluice.yaml"), yaml("- { rule: range, column: amount, max: 100 }"));
    const replay = await sluice(["replay", original, "--json"], dir);
    expect(replay.code, replay.stderr).toBe(0);
    const expected = ["in/a.csv:1x1", "in/a.csv:3x1", "in/b.csv:11x1", "in/b.csv:12x1", "in/b.csv:13x1"];
    expect(await rowsIn(dir)).toEqual({ warehouse: expected, lake: expected });
  }, 60_000);

  it("a failed file the interrupted replay wrote to the lake is not written again", async () => {
    const checks = (amountMax: number, id: string) => `
      - { rule: range, column: amount, max: ${amountMax}, severity: fatal }
      - { rule: range, column: id, ${id} }`;
    const dir = makeProject(yaml(checks(10, "max: 20")), {
      "landing/in/a.csv": "id,amount\n1,50\n2,6\n",
      "landing/in/b.csv": "id,amount\n11,5\n31,5\n32,5\n",
    });
    const original = await firstRun(dir);
    // a.csv passes now; the quarantined rows of b.csv fail a fatal rule: only a reaches the lake.
    writeFileSync(join(dir, "sluice.yaml"), yaml(checks(100, "max: 30, severity: fatal")));
    await replayAndCrash(dir, original);
    writeFileSync(join(dir, "sluice.yaml"), yaml(checks(100, "max: 40")));
    const replay = await sluice(["replay", original, "--json"], dir);
    expect(replay.code, replay.stderr).toBe(0);
    const expected = ["in/a.csv:1x1", "in/a.csv:2x1", "in/b.csv:11x1", "in/b.csv:31x1", "in/b.csv:32x1"];
    expect(await rowsIn(dir)).toEqual({ warehouse: expected, lake: expected });
  }, 60_000);

  it("rows the configuration now lets through are written even though the interrupted replay held the file", async () => {
    const dir = makeProject(yaml("- { rule: range, column: amount, max: 10 }", "fail"), {
      "landing/in/a.csv": "id,amount\n1,5\n2,6,7\n3,8\n",
      "landing/in/b.csv": "id,amount\n11,5\n12,50\n13,60\n",
    });
    const original = await firstRun(dir);
    // a.csv loads now; b.csv's quarantined rows still fail: the lake commit holds b's replay with no row.
    writeFileSync(join(dir, "sluice.yaml"), yaml("- { rule: range, column: amount, max: 10 }"));
    await replayAndCrash(dir, original);
    writeFileSync(join(dir, "sluice.yaml"), yaml("- { rule: range, column: amount, max: 100 }"));
    const replay = await sluice(["replay", original, "--json"], dir);
    expect(replay.code, replay.stderr).toBe(0);
    const expected = ["in/a.csv:1x1", "in/a.csv:3x1", "in/b.csv:11x1", "in/b.csv:12x1", "in/b.csv:13x1"];
    expect(await rowsIn(dir)).toEqual({ warehouse: expected, lake: expected });
  }, 60_000);
});
