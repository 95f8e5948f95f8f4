import { describe, expect, it } from "vitest";
import { makeProject, pipelineYaml, sluice } from "../support/cli.js";

describe("progress", () => {
  it("names the file and each stage as the run goes (forced where stderr is not a terminal)", async () => {
    const rows = Array.from({ length: 2000 }, (_, i) => `${i},name ${i}`).join("\n");
    const dir = makeProject(
      pipelineYaml(
        `orders:\n  source: { path: "in/*.csv" }\n  checks:\n    - { rule: not_null, columns: [id] }\n  target: { table: orders, lake: { table: orders } }`,
        "lake: lake\n",
      ),
      { "landing/in/a.csv": `id,name\n${rows}\n` },
    );
    const r = await sluice(["run"], dir, { env: { SLUICE_PROGRESS: "1" } });
    expect(r.code).toBe(0);
    const frames = r.stderr.split("\n").filter((l) => l.startsWith("orders ["));
    const stages = [
      ...new Set(frames.map((l) => /· (read|check|lake write|publish)( \d+%)? ·/.exec(l)?.[1])),
    ];
    expect(stages).toEqual(["read", "check", "lake write", "publish"]);
    expect(frames[0]).toMatch(/0\/1 files · in\/a\.csv · read/);
    expect(frames.at(-1)).toMatch(/1\/1 files · publish/);
    // Without the flag, and not on a terminal, nothing is drawn.
    const plain = makeProject(
      pipelineYaml(`orders:\n  source: { path: "in/*.csv" }\n  target: { table: orders }`),
      {
        "landing/in/a.csv": "id\n1\n",
      },
    );
    expect((await sluice(["run"], plain)).stderr).not.toContain("orders [");
  });
});
