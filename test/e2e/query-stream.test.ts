import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { cliPath, makeProject, pipelineYaml, sluice } from "../support/cli.js";

/** The peak resident memory of a live process in kB (Linux), or undefined once it is gone. */
function peakRssKb(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs `sluice query` and counts its output without keeping it, sampling the child's peak RSS while
 * it writes (the child waits on the pipe while this side reads, so it is alive at each sample).
 */
function measure(
  dir: string,
  args: readonly string[],
): Promise<{ code: number | null; bytes: number; lines: number; peakKb: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      cwd: dir,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let bytes = 0;
    let lines = 0;
    let peakKb = 0;
    child.stdout.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      for (const b of chunk) if (b === 10) lines++;
      peakKb = Math.max(peakKb, peakRssKb(child.pid!) ?? 0);
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, bytes, lines, peakKb }));
  });
}

describe.runIf(process.platform === "linux")("sluice query streams its result", () => {
  it("--csv and --json keep memory flat whatever the result's size", async () => {
    const dir = makeProject(pipelineYaml(`t:\n  source: { path: "in/*.csv" }\n  target: { table: t }`));
    const sql = (n: number) => `SELECT range AS n, repeat('x', 200) AS pad FROM range(${n})`;
    for (const [format, small, large] of [
      ["--csv", 50_000, 500_000],
      ["--json", 15_000, 150_000],
    ] as const) {
      const a = await measure(dir, ["query", sql(small), format]);
      const b = await measure(dir, ["query", sql(large), format]);
      expect([format, a.code, b.code]).toEqual([format, 0, 0]);
      // Every row arrived: CSV has a header line, the JSON array one line per value plus braces.
      if (format === "--csv") expect([a.lines, b.lines]).toEqual([small + 1, large + 1]);
      expect(b.bytes / a.bytes).toBeGreaterThan(9);
      // Ten times the output, about the same memory (holding it would take several times more).
      expect(b.peakKb / a.peakKb, `${format}: ${a.peakKb} kB vs ${b.peakKb} kB`).toBeLessThan(1.5);
    }
  }, 120_000);

  it("a streamed --json result is one valid array, also when empty", async () => {
    const dir = makeProject(pipelineYaml(`t:\n  source: { path: "in/*.csv" }\n  target: { table: t }`));
    const many = await sluice(["query", "SELECT range AS n FROM range(5000)", "--json"], dir);
    expect(many.code).toBe(0);
    expect(many.json<{ n: number }[]>().map((r) => r.n)).toEqual([...Array(5000).keys()]);
    const none = await sluice(["query", "SELECT 1 AS n WHERE false", "--json"], dir);
    expect(none.json()).toEqual([]);
    const csv = await sluice(["query", "SELECT 1 AS n WHERE false", "--csv"], dir);
    expect(csv.stdout).toBe("n\n");
  });
});
