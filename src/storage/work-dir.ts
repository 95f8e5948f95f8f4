import { createHash } from "node:crypto";
import { lstatSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";

/** This machine in a work folder's name: 8 hex digits of its host name (containers get their own). */
const HOST = createHash("sha256").update(hostname()).digest("hex").slice(0, 8);

/** `sluice-<kind>-<host>-<pid>` with mkdtemp's 6 random characters after it, or without (DuckDB's own). */
const WORK_DIR = /^sluice-([a-z]+)-([0-9a-f]{8})-(\d+)(?:-[A-Za-z0-9]{6})?$/;

let reclaimed = false;

/**
 * The name (in the system temp folder) of this process's work folders of a kind:
 * `sluice-<kind>-<host>-<pid>`. A later process can tell whether their owner is gone.
 *
 * @example
 * join(tmpdir(), workDirName("engine")) // DuckDB's spill folder of this process
 */
export function workDirName(kind: string): string {
  return `sluice-${kind}-${HOST}-${process.pid}`;
}

/**
 * Makes a private work folder in the system temp folder, named after its owner (see `workDirName`).
 * The first one a process makes first removes those left by dead processes of this machine (a run
 * killed with -9 cannot remove its own).
 *
 * @example
 * const dir = makeWorkDir("run"); try { ... } finally { rmSync(dir, { recursive: true, force: true }); }
 */
export function makeWorkDir(kind: string): string {
  if (!reclaimed) {
    reclaimed = true;
    reclaimWorkDirs();
  }
  return mkdtempSync(join(tmpdir(), `${workDirName(kind)}-`));
}

/**
 * Removes the work folders of processes of this machine that are no longer running, and returns their
 * names. Left alone: folders of live processes (or of a process id taken again since), of other
 * machines sharing the folder, of other users, and anything else (links included).
 */
export function reclaimWorkDirs(dir = tmpdir()): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const owner = WORK_DIR.exec(name);
    if (!owner || owner[2] !== HOST || isRunning(Number(owner[3]))) continue;
    const full = join(dir, name);
    try {
      const info = lstatSync(full);
      if (!info.isDirectory() || (process.getuid && info.uid !== process.getuid())) continue;
      rmSync(full, { recursive: true, force: true });
      removed.push(name);
    } catch {
      // Gone meanwhile, or not ours to remove.
    }
  }
  return removed;
}

function isRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, under another user.
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}
