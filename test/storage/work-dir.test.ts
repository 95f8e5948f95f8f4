import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { reclaimWorkDirs, workDirName } from "../../src/storage/work-dir.js";

/** A process id that is not running (a child that has exited). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
  return Number(child.stdout.toString());
}

describe("reclaimWorkDirs", () => {
  it("removes the work folders of dead processes of this machine only", () => {
    const temp = mkdtempSync(join(tmpdir(), "sluice-reclaim-"));
    const mine = workDirName("run");
    const dead = mine.replace(/-\d+$/, `-${deadPid()}`);
    const otherHost = dead.replace(/-[0-9a-f]{8}-/, "-00000000-");
    const names = {
      deadRun: `${dead}-AbC123`,
      deadEngine: dead.replace("sluice-run-", "sluice-engine-"),
      live: `${mine}-XyZ789`,
      otherHost: `${otherHost}-AbC123`,
      legacy: "sluice-run-AbC123",
      unrelated: "sluice-test-AbC123",
    };
    for (const name of Object.values(names)) mkdirSync(join(temp, name));
    mkdirSync(join(temp, names.deadRun, "f0"));
    const target = mkdtempSync(join(tmpdir(), "sluice-reclaim-target-"));
    const linkName = `${dead}-Link00`;
    symlinkSync(target, join(temp, linkName));

    expect(reclaimWorkDirs(temp).sort()).toEqual([names.deadEngine, names.deadRun].sort());
    expect(readdirSync(temp).sort()).toEqual(
      [names.live, names.otherHost, names.legacy, names.unrelated, linkName].sort(),
    );
    expect(existsSync(target)).toBe(true);
    expect(basename(mine)).toMatch(/^sluice-run-[0-9a-f]{8}-\d+$/);
  });
});
