import { landingDestination } from "../plan/landing-paths.js";
import type { Storage } from "../storage/storage.js";

/**
 * Picks a free destination in `archive/` or `unprocessed/` for a source file (never overwriting:
 * a second file of the same name in the same second gets `_2`, `_3`, ...).
 *
 * @example
 * await freeDestination(landing, "archive", "orders", "in/orders/a.csv", new Date(), reserved)
 */
export async function freeDestination(
  landing: Storage,
  area: "archive" | "unprocessed",
  pipeline: string,
  sourcePath: string,
  at: Date,
  reserved: Set<string>,
): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const candidate = landingDestination(area, pipeline, sourcePath, at, attempt);
    if (reserved.has(candidate)) continue;
    if ((await landing.stat(candidate)) === null) {
      reserved.add(candidate);
      return candidate;
    }
  }
}

/**
 * Moves a processed file to its destination. When a previous attempt already copied it there (a crash
 * between the two halves of a move), the leftover source is removed instead.
 */
export async function moveFile(landing: Storage, from: string, to: string, size: number): Promise<void> {
  const existing = await landing.stat(to);
  if (existing) {
    if (existing.size === size) {
      await landing.delete(from);
      return;
    }
    throw new Error(`${to} already exists with other content`);
  }
  await landing.move(from, to);
}
