import { existsSync, mkdirSync, mkdtempSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { removeAbandonedScratch, scratchDir, scratchRoot } from "../../src/storage/scratch-dir.js";

describe("scratch folders", () => {
  it("one root per process, named by its pid; work folders below it", () => {
    const root = scratchRoot();
    expect(root).toMatch(new RegExp(`sluice-work-${process.pid}-`));
    expect(scratchRoot()).toBe(root);
    expect(scratchDir("run-").startsWith(`${root}/run-`)).toBe(true);
  });

  it("removes a day-old folder of a process that is gone, and nothing else", () => {
    const base = mkdtempSync(join(tmpdir(), "sluice-scratch-test-"));
    const gone = 2_147_483_000; // above any pid_max: no such process
    const dayOld = (Date.now() - 2 * 86_400_000) / 1000;
    const make = (name: string, old: boolean) => {
      const dir = join(base, name);
      mkdirSync(join(dir, "run-x"), { recursive: true });
      writeFileSync(join(dir, "run-x", "part.csv"), "a\n");
      if (old) utimesSync(dir, dayOld, dayOld);
      return dir;
    };
    const abandoned = make(`sluice-work-${gone}-aaaaaa`, true);
    const recent = make(`sluice-work-${gone}-bbbbbb`, false);
    const mine = make(`sluice-work-${process.pid}-cccccc`, true);
    const parent = make(`sluice-work-${process.ppid}-dddddd`, true);
    const other = make("sluice-test-eeeeee", true);
    removeAbandonedScratch(base);
    expect(existsSync(abandoned)).toBe(false);
    for (const kept of [recent, mine, parent, other]) expect(existsSync(kept)).toBe(true);
  });
});
