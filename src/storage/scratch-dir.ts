import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

let root: string | undefined;

/** Scratch folders of processes gone this long are removed by the next Sluice process. */
const ABANDONED_AFTER_MS = 86_400_000;

/**
 * This process's scratch folder, `<tmp>/sluice-work-<pid>-XXXXXX` (created on first use, removed at
 * exit). Every temporary file a DuckDB engine reads or writes (downloads, staging, quarantine rows)
 * lives below it, so an engine confined to the project can be given this one folder rather than the
 * whole system temp folder.
 *
 * @example
 * const root = scratchRoot(); // e.g. /tmp/sluice-work-4242-AbC123
 */
export function scratchRoot(): string {
  if (root === undefined) {
    removeAbandonedScratch(tmpdir());
    const made = mkdtempSync(join(tmpdir(), `sluice-work-${process.pid}-`));
    root = made;
    process.once("exit", () => rmSync(made, { recursive: true, force: true }));
  }
  return root;
}

/**
 * A new folder under {@link scratchRoot}, named `<prefix>XXXXXX`.
 *
 * @example
 * const dir = scratchDir("run-"); try { ... } finally { rmSync(dir, { recursive: true, force: true }); }
 */
export function scratchDir(prefix: string): string {
  return mkdtempSync(join(scratchRoot(), prefix));
}

/** {@link scratchDir}, without blocking. */
export function scratchDirAsync(prefix: string): Promise<string> {
  return mkdtemp(join(scratchRoot(), prefix));
}

/**
 * Removes the scratch folders in `dir` of processes that ended without cleaning up (killed), once they
 * are a day old: a process still alive (or of another user) keeps its folder.
 *
 * @example
 * removeAbandonedScratch(tmpdir());
 */
export function removeAbandonedScratch(dir: string, now = Date.now()): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/^sluice-work-(\d+)-/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid === process.pid || alive(pid)) continue;
    const full = join(dir, name);
    try {
      if (now - statSync(full).mtimeMs < ABANDONED_AFTER_MS) continue;
      rmSync(full, { recursive: true, force: true });
    } catch {
      // Another process cleaned it up first, or it is not ours to remove.
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
