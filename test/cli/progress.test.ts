import { describe, expect, it } from "vitest";
import { renderProgress } from "../../src/cli/progress.js";
import type { RunProgress } from "../../src/run/run-progress.js";

const base: RunProgress = {
  pipeline: "orders",
  filesDone: 0,
  filesTotal: 1,
  bytesDone: 0,
  bytesTotal: 40e6,
  current: "in/big.csv",
  currentBytes: 40e6,
};

/** The bar's filled cells. */
const filled = (line: string) => (line.match(/█/g) ?? []).length;

describe("renderProgress", () => {
  it("moves within one file as the engine reads it, and names the stage", () => {
    const start = renderProgress({ ...base, stage: "read" }, 120);
    const half = renderProgress({ ...base, stage: "read", stagePercent: 50 }, 120);
    const read = renderProgress({ ...base, stage: "read", stagePercent: 100 }, 120);
    expect(start).toContain("0/1 files · in/big.csv · read · 0.0/40.0 MB");
    expect(half).toContain("in/big.csv · read 50% · 20.0/40.0 MB");
    expect(filled(start)).toBe(0);
    expect(filled(half)).toBeGreaterThan(filled(start));
    expect(filled(read)).toBeGreaterThan(filled(half));
  });

  it("shows the later stages with their own progress", () => {
    const check = renderProgress({ ...base, stage: "check", stagePercent: 30 }, 120);
    expect(check).toContain("in/big.csv · check 30% · 40.0/40.0 MB");
    const publish = renderProgress(
      { ...base, filesDone: 1, bytesDone: 40e6, stage: "publish", stagePercent: 75.6 },
      120,
    );
    expect(publish).toContain("1/1 files · publish 75% · 40.0/40.0 MB");
    expect(publish).not.toContain("in/big.csv");
    expect(renderProgress({ ...base, filesDone: 1, bytesDone: 40e6, stage: "lake write" }, 120)).toContain(
      "lake write",
    );
  });

  it("counts files when there are no bytes (a warehouse source) and fits the terminal", () => {
    const query = renderProgress(
      {
        pipeline: "daily",
        filesDone: 0,
        filesTotal: 1,
        bytesDone: 0,
        bytesTotal: 0,
        current: "sql:daily",
        stage: "read",
        stagePercent: 50,
      },
      120,
    );
    expect(query).not.toContain("MB");
    expect(filled(query)).toBe(10);
    const narrow = renderProgress({ ...base, stage: "read", stagePercent: 10 }, 30);
    expect(narrow.length).toBeLessThanOrEqual(29);
    expect(narrow.endsWith("…")).toBe(true);
  });
});
