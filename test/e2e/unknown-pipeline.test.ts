import { describe, expect, it } from "vitest";
import { makeProject, pipelineYaml, sluice } from "../support/cli.js";

const project = pipelineYaml(`orders:
  source: { path: "in/*.csv" }
  target: { table: orders }`);

describe("an unknown pipeline name", () => {
  it("is a usage error naming it for watch, as for run (exit 2, no stack, nothing started)", async () => {
    const dir = makeProject(project);
    for (const command of ["watch", "run"]) {
      const r = await sluice([command, "nope", "--json"], dir, { timeoutMs: 20_000 });
      expect(r.code, `${command}: ${r.stderr}`).toBe(2);
      expect(r.json<{ error: { code: string; message: string } }>().error).toEqual({
        code: "PIPELINE_UNKNOWN",
        message: "unknown pipeline nope (defined: orders)",
        details: [],
      });
    }
  });

  it("does not take a name inherited by every object for a pipeline", async () => {
    const dir = makeProject(project);
    for (const args of [
      ["run", "constructor"],
      ["quarantine", "constructor"],
      ["backfill", "constructor", "--from", "2026-01-01", "--to", "2026-01-02"],
    ]) {
      const r = await sluice(args, dir);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toContain("unknown pipeline constructor (defined: orders)");
    }
    const runs = await sluice(["runs", "--pipeline", "constructor"], dir);
    expect(runs.code).toBe(2);
    expect(runs.stderr).toContain("unknown pipeline constructor: not in sluice.yaml and no runs recorded");
  });
});
