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
    if (!isCandidate(clean, entry.path)) continue;
    if (isMatch(entry.path) || (entry.refused?.folder && mayHoldMatches(clean, entry.path)))
      found.push(entry);
  }
  return oldestFirst(found);
}

/**
 * {@link discoverFiles} narrowed to `paths` (a run of named files: `sluice run --file`, a queued unit).
 * In a local landing zone each named file is looked up by itself instead of listing every file under the
 * glob: a queue worker runs one small unit after another, and listing a backlog of thousands of files for
 * each made a unit's cost grow with the backlog. A named file that is not a plain file there (missing, a
 * link, a name that is not UTF-8) takes the full listing, which reports what it will not read.
 *
 * @example
 * await discoverNamedFiles(landing, "in/*.csv", ["in/a.csv"]) // [{ path: "in/a.csv", size: 12, mtimeMs: ... }]
 */
export async function discoverNamedFiles(
  landing: Storage,
  glob: string,
  paths: readonly string[],
): Promise<StorageEntry[]> {
  const clean = glob.replace(/^\.?\//, "");
  const isMatch = picomatch(clean, { dot: false });
  const wanted = [...new Set(paths)].filter((p) => isCandidate(clean, p) && isMatch(p));
  if (landing.kind === "local") {
    const entries = await Promise.all(wanted.map((p) => landing.stat(p).catch(() => null)));
    if (entries.every((e) => e !== null)) return oldestFirst(entries as StorageEntry[]);
  }
  return (await discoverFiles(landing, clean)).filter((e) => paths.includes(e.path));
}

/** Whether a listed path may be incoming work under `glob`: no temporary or hidden file, no managed folder. */
function isCandidate(glob: string, path: string): boolean {
  if (path.endsWith(".tmp") || path.split("/").some((p) => p.startsWith("."))) return false;
  const top = path.split("/")[0]!;
  return !(managedFolders as readonly string[]).includes(top) || glob.startsWith(`${top}/`);
}

function oldestFirst(entries: StorageEntry[]): StorageEntry[] {
  return entries.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
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
