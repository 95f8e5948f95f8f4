import picomatch from "picomatch";
import type { Storage, StorageEntry } from "../storage/storage.js";

/**
 * The static folder a glob starts from (`in/orders/*.csv` → `in/orders`), so listing stays narrow.
 *
 * @example
 * globBase("in/orders/**\/*.csv") // "in/orders"
 */
export function globBase(glob: string): string {
  const parts = glob.split("/");
  const fixed: string[] = [];
  for (const part of parts.slice(0, -1)) {
    if (picomatch.scan(part).isGlob) break;
    fixed.push(part);
  }
  return fixed.join("/");
}

/** Folders Sluice manages inside the landing zone; never treated as incoming files. */
export const managedFolders = ["archive", "unprocessed", "quarantine", "logs", "replay"] as const;

/**
 * Files under the landing zone matching a pipeline's glob, oldest first (then by name). What Sluice will
 * not read there (symbolic links, unaddressable S3 keys) is included, marked `refused`, when it matches
 * the glob or is a linked folder that could hold matches: the run reports it instead of skipping it unsaid.
 */
export async function discoverFiles(landing: Storage, glob: string): Promise<StorageEntry[]> {
  const clean = glob.replace(/^\.?\//, "");
  const isMatch = picomatch(clean, { dot: false });
  const found: StorageEntry[] = [];
  for await (const entry of landing.list(globBase(clean), { includeRefused: true })) {
    if (entry.path.endsWith(".tmp") || entry.path.split("/").some((p) => p.startsWith("."))) continue;
    if (
      (managedFolders as readonly string[]).includes(entry.path.split("/")[0]!) &&
      !clean.startsWith(`${entry.path.split("/")[0]}/`)
    )
      continue;
    if (isMatch(entry.path) || (entry.refused?.folder && mayHoldMatches(clean, entry.path)))
      found.push(entry);
  }
  return found.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Whether files below the folder `dir` could match `glob`: each of its parts matches the glob's part at
 * the same depth, up to a `**` or with glob parts left below it.
 *
 * @example
 * mayHoldMatches("in/orders/**\/*.csv", "in/orders/2026") // true
 * mayHoldMatches("in/orders/*.csv", "in/orders/2026")     // false
 */
export function mayHoldMatches(glob: string, dir: string): boolean {
  const globParts = glob.split("/");
  const dirParts = dir.split("/");
  for (const [i, part] of dirParts.entries()) {
    const pattern = globParts[i];
    if (pattern === undefined) return false;
    if (pattern === "**") return true;
    if (!picomatch.isMatch(part, pattern, { dot: false })) return false;
  }
  return globParts.length > dirParts.length;
}
