import { appendFileSync, existsSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SluiceError } from "../../src/errors.js";
import { loadProject } from "../../src/project/load-config.js";
import { createProjectContext, type ProjectContext } from "../../src/run/project-context.js";
import { runProject } from "../../src/runner/run-project.js";
import type { Storage } from "../../src/storage/storage.js";
import { makeProject, pipelineYaml } from "../support/cli.js";

/** A real local landing zone whose reads of one file do something unwelcome first. */
function withSurprise(landing: Storage, path: string, surprise: (full: string) => void): Storage {
  return {
    ...landing,
    async createReadStream(p) {
      const stream = await landing.createReadStream(p);
      if (p === path) stream.on("end", () => surprise(landing.localPath(p)!));
      return stream;
    },
  };
}

async function context(dir: string, landing: (l: Storage) => Storage): Promise<ProjectContext> {
  const ctx = createProjectContext(await loadProject({ cwd: dir }));
  return { ...ctx, landing: landing(ctx.landing) };
}

const yaml = pipelineYaml(`t:\n  source: { path: "in/*.csv" }\n  target: { table: t }`);

describe("files that change under the run", () => {
  it("a file still being written is left for the next run, the others load", async () => {
    const dir = makeProject(yaml, { "landing/in/a.csv": "id\n1\n", "landing/in/b.csv": "id\n2\n" });
    const ctx = await context(dir, (l) => withSurprise(l, "in/a.csv", (full) => appendFileSync(full, "3\n")));
    const [report] = await runProject(ctx);
    const a = report!.files.find((f) => f.path === "in/a.csv")!;
    expect(a.status).toBe("failed");
    expect(a.error).toBe("in/a.csv: changed while being read (still being written?); left for the next run");
    expect(a.archived_to).toBeNull();
    expect(existsSync(join(dir, "landing/in/a.csv"))).toBe(true);
    expect(report!.files.find((f) => f.path === "in/b.csv")!.status).toBe("loaded");
    // Next run (file now complete) loads it.
    const [again] = await runProject(createProjectContext(await loadProject({ cwd: dir })));
    expect(again!.files.map((f) => [f.path, f.status, f.rows.loaded])).toEqual([["in/a.csv", "loaded", 2]]);
  });

  it("a file that disappears during the run fails cleanly without losing anything", async () => {
    const dir = makeProject(yaml, { "landing/in/a.csv": "id\n1\n" });
    const ctx = await context(dir, (l) => withSurprise(l, "in/a.csv", (full) => unlinkSync(full)));
    const [report] = await runProject(ctx);
    expect(report!.status).toBe("failed");
    expect(report!.files[0]!.error).toBe("in/a.csv: disappeared during the run");
  });

  it("an unreadable file is reported with what to do", async () => {
    const dir = makeProject(yaml, { "landing/in/a.csv": "id\n1\n" });
    const denied = Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" });
    const ctx = await context(dir, (l) => ({
      ...l,
      createReadStream: async () => {
        throw denied;
      },
    }));
    const [report] = await runProject(ctx);
    expect(report!.files[0]!.error).toBe("in/a.csv: permission denied; fix its permissions and run again");
    expect(existsSync(join(dir, "landing/in/a.csv"))).toBe(true);
  });

  it("unknown pipelines are usage errors", async () => {
    const dir = makeProject(yaml);
    const ctx = createProjectContext(await loadProject({ cwd: dir }));
    await expect(runProject(ctx, { pipelines: ["x"] })).rejects.toThrow(SluiceError);
  });
});
