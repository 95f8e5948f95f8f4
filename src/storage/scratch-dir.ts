import { mkdtempSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { makeWorkDir } from "./work-dir.js";

let root: string | undefined;

/**
 * This process's scratch folder, a work folder of kind `work` (`<tmp>/sluice-work-<host>-<pid>-XXXXXX`,
 * created on first use, removed at exit; a killed process's is removed by the next Sluice process, see
 * `makeWorkDir`). Every temporary file a DuckDB engine reads or writes (downloads, staging, quarantine
 * rows) lives below it, so an engine confined to the project can be given this one folder rather than
 * the whole system temp folder.
 *
 * @example
 * const root = scratchRoot(); // e.g. /tmp/sluice-work-1f3c9e0a-4242-AbC123
 */
export function scratchRoot(): string {
  if (root === undefined) {
    const made = makeWorkDir("work");
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
