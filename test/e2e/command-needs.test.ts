import { describe, expect, it } from "vitest";
import { makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";

// Commands ask only for what they need: the mask salt is for loading rows, nothing else.
describe("commands that load nothing work without SLUICE_MASK_SALT", () => {
  it("lake history / optimize / vacuum / restore, rollback and files restore run without the salt", async () => {
    const dir = makeProject(
      pipelineYaml(
        `t:\n  source: { path: "in/*.csv" }\n  columns: { email: { mask: hash } }\n  target:\n    table: t\n    lake: { table: t, format: delta }`,
      ),
      { "landing/in/a.csv": "id,email\n1,ada@example.com\n2,bob@example.com\n" },
    );
    const run = await sluice(["run", "--json"], dir, { env: { SLUICE_MASK_SALT: "s3cret" } });
    expect(run.code, run.stderr).toBe(0);
    const runId = run.json<RunJson>().runs[0]!.run_id;
    const noSalt = { env: { SLUICE_MASK_SALT: "" } };
    for (const args of [
      ["lake", "history", "t", "--json"],
      ["lake", "optimize", "t", "--json"],
      ["lake", "vacuum", "t", "--dry-run", "--json"],
      ["lake", "restore", "t", "--to-version", "0", "--json"],
      ["rollback", "t", "--to", runId, "--json"],
      ["files", "versions", "a.csv", "--json"],
      ["files", "restore", "a.csv", "--version", "1", "--json"],
    ]) {
      const r = await sluice(args, dir, noSalt);
      expect([args.join(" "), r.code, r.stderr]).toEqual([args.join(" "), 0, ""]);
    }
    // Loading still needs it.
    const refused = await sluice(["run"], dir, noSalt);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("SLUICE_MASK_SALT");
  });
});
