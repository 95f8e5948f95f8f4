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

/** Files under the landing zone matching a pipeline's glob, oldest first (then by name). */
export async function discoverFiles(landing: Storage, glob: string): Promise<StorageEntry[]> {
  const clean = glob.replace(/^\.?\//, "");
  const isMatch = picomatch(clean, { dot: false });
  const found: StorageEntry[] = [];
  for await (const entry of landing.list(globBase(clean))) {
    if (entry.path.endsWith(".tmp") || entry.path.split("/").some((p) => p.startsWith("."))) continue;
    if (
      (managedFolders as readonly string[]).includes(entry.path.split("/")[0]!) &&
      !clean.startsWith(`${entry.path.split("/")[0]}/`)
    )
      continue;
    if (isMatch(entry.path)) found.push(entry);
  }
  return found.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
