import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { addFile, makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";

/** A 512 KiB tmpfs for the landing zone: a real file system that fills up (mounting needs root). */
function mountSmallDisk(): { dir: string; landing: string } | undefined {
  const dir = mkdtempSync(join(tmpdir(), "sluice-disk-full-"));
  const landing = join(dir, "landing");
  mkdirSync(landing);
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", landing], { stdio: "ignore" });
    return { dir, landing };
  } catch {
    console.warn("[skipped] disk-full tests: cannot mount a small tmpfs (needs root)");
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
}

const disk = process.getuid?.() === 0 ? mountSmallDisk() : undefined;

/** Fills the landing disk, leaving `leaveKb` KiB free; returns a function that frees it again. */
function fill(landing: string, leaveKb: number): () => void {
  const free = statfsSync(landing);
  const bytes = Math.max(0, free.bavail * free.bsize - leaveKb * 1024);
  const filler = join(landing, "filler");
  try {
    writeFileSync(filler, Buffer.alloc(bytes));
  } catch {
    // full before the end: full is what was asked for
  }
  return () => rmSync(filler, { force: true });
}

function csv(first: number, rows: number, malformed: number): string {
  const good = Array.from({ length: rows }, (_, i) => `${first + i},v${i}`);
  const bad = Array.from({ length: malformed }, (_, i) => `x${i},this row does not parse as an id`);
  return `id,v\n${[...good, ...bad].join("\n")}\n`;
}

const yaml = pipelineYaml(`orders:
  source: { path: "in/*.csv" }
  columns:
    id: { type: bigint }
    v: { type: varchar }
  max_failure_rate: 0.5
  target: { table: orders }`);

describe.skipIf(!disk)("a full landing disk", () => {
  afterAll(() => {
    if (!disk) return;
    execFileSync("umount", [disk.landing]);
    rmSync(disk.dir, { recursive: true, force: true });
  });

  it("after the commit: the run succeeded and says which file was not written; a later run writes it", async () => {
    const { dir, landing } = disk!;
    writeFileSync(join(dir, "sluice.yaml"), yaml);
    addFile(dir, "landing/in/a.csv", csv(0, 1000, 300));
    // Room for the run's log, not for its 300 quarantined rows.
    const free = fill(landing, 8);
    const run = await sluice(["run", "--json"], dir);
    free();
    expect(run.code, run.stderr).toBe(0);
    const report = run.json<RunJson>().runs[0]! as RunJson["runs"][number] & { warnings?: string[] };
    expect(report.status).toBe("succeeded");
    const file = `quarantine/orders/${report.run_id}/rows.jsonl`;
    expect(report.warnings).toEqual([
      `${file}: could not be written: no space left on the device (ENOSPC); it is written by a later run`,
    ]);
    // Nothing half-written stands in its place (no partial file, no temporary one).
    const folder = join(landing, `quarantine/orders/${report.run_id}`);
    expect(existsSync(folder) ? readdirSync(folder) : []).toEqual([]);
    // `runs` agrees with what the run printed and its exit code.
    const runs = (await sluice(["runs", "--json"], dir)).json<{
      runs: { status: string; warnings?: string[] }[];
    }>();
    expect(runs.runs[0]).toMatchObject({ status: "succeeded", warnings: report.warnings });

    addFile(dir, "landing/in/b.csv", csv(5000, 10, 0));
    const next = await sluice(["run", "--json"], dir);
    expect(next.code, next.stderr).toBe(0);
    const lines = readFileSync(join(landing, file), "utf8").trim().split("\n");
    expect(lines).toHaveLength(300);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      run_id: report.run_id,
      file: "in/a.csv",
      rules: ["malformed"],
    });
    const q = await sluice(
      ["query", "SELECT count(*)::INT AS n, count(DISTINCT id)::INT AS d FROM orders", "--json"],
      dir,
    );
    expect(q.json()).toEqual([{ n: 1010, d: 1010 }]);
  }, 60_000);

  it("before the run: one clear line naming the file, nothing loaded; loaded once the disk has room", async () => {
    const { dir, landing } = disk!;
    addFile(dir, "landing/in/c.csv", csv(9000, 5, 0));
    const free = fill(landing, 0);
    const run = await sluice(["run"], dir);
    free();
    expect(run.code).toBe(1);
    expect(`${run.stdout}${run.stderr}`).toMatch(
      /error: logs\/\d{4}\/\d{2}\/\d{2}\/[^ ]+\.jsonl: could not be written: no space left on the device \(ENOSPC\); nothing was loaded: free space and run again/,
    );
    expect(run.stderr).not.toMatch(/unexpected error/);
    expect(existsSync(join(landing, "in/c.csv"))).toBe(true);
    const again = await sluice(["run"], dir);
    expect(again.code, again.stderr).toBe(0);
    const q = await sluice(
      ["query", "SELECT count(*)::INT AS n FROM orders WHERE id >= 9000", "--json"],
      dir,
    );
    expect(q.json()).toEqual([{ n: 5 }]);
  }, 60_000);
});

describe("kill -9 right after the commit", () => {
  it("the next run writes the quarantine file and archives the file; nothing is loaded twice", async () => {
    const dir = makeProject(yaml, { "landing/in/a.csv": csv(0, 100, 7) });
    const killed = await sluice(["run"], dir, { env: { SLUICE_FAILPOINT: "after-commit" } });
    expect(killed.signal).toBe("SIGKILL");
    const runs = (await sluice(["runs", "--json"], dir)).json<{
      runs: { run_id: string; status: string }[];
    }>();
    expect(runs.runs.map((r) => r.status)).toEqual(["succeeded"]);
    const first = runs.runs[0]!.run_id;
    expect(existsSync(join(dir, `landing/quarantine/orders/${first}/rows.jsonl`))).toBe(false);
    const next = await sluice(["run", "--json"], dir);
    expect(next.code, next.stderr).toBe(0);
    expect(next.json<RunJson>().runs[0]!.files.map((f) => f.status)).toEqual(["skipped_duplicate"]);
    const lines = readFileSync(join(dir, `landing/quarantine/orders/${first}/rows.jsonl`), "utf8")
      .trim()
      .split("\n");
    expect(lines).toHaveLength(7);
    expect(readdirSync(join(dir, "landing/in"))).toEqual([]);
    const q = await sluice(["query", "SELECT count(*)::INT AS n FROM orders", "--json"], dir);
    expect(q.json()).toEqual([{ n: 100 }]);
  }, 60_000);
});
