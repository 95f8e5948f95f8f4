import type { StorageEntry } from "../storage/storage.js";

/** Where a tracked file stands. */
type TrackedState = "settling" | "queued" | "failed";

interface Tracked {
  signature: string;
  /** When the current signature was first seen (ms). */
  since: number;
  state: TrackedState;
  failures: number;
  retryAt: number;
}

/** Options of {@link createStableFiles}. */
export interface StableFilesOptions {
  /** Per pipeline: how long a file's size and mtime/ETag must stay the same (ms). */
  readonly stableForMs: (pipeline: string) => number;
  /** First wait before a file whose run failed is offered again (doubles per failure, max 5 min). */
  readonly retryBaseMs?: number;
  /**
   * Trust modification times as the moment of the last write (local files: same clock). A new
   * signature then counts as stable since its mtime, not since it was first noticed.
   */
  readonly trustMtime?: boolean;
}

/** The result of one observation: files ready per pipeline, and when to look again. */
export interface StableObservation {
  readonly ready: ReadonlyMap<string, readonly string[]>;
  /** The next moment a settling file may become ready (ms), or undefined. */
  readonly nextCheckAt: number | undefined;
}

/** Tracks landing files until their size and mtime/ETag have been stable for `stable_for`. */
export interface StableFiles {
  /** Records one listing of a pipeline's files (a full listing: files not in it are forgotten). */
  observe(pipeline: string, entries: readonly StorageEntry[], now: number): void;
  /** Files ready to load (not already handed out), per pipeline; marks them queued. */
  take(now: number): StableObservation;
  /** Files of a run that are still in the landing zone afterwards: offered again later, with backoff. */
  settled(pipeline: string, leftovers: readonly StorageEntry[], now: number): void;
  /** Number of files tracked (for status output). */
  size(): number;
}

/**
 * A pure tracker of file stability: a file is ready once the same signature (size + mtime + ETag)
 * has been observed for at least `stable_for`; a change restarts the wait. Half-written files are
 * therefore never handed out, and a burst of files becomes one batch per pipeline.
 *
 * @example
 * const files = createStableFiles({ stableForMs: () => 5000 });
 * files.observe("orders", entries, Date.now());
 * const { ready, nextCheckAt } = files.take(Date.now());
 */
export function createStableFiles(options: StableFilesOptions): StableFiles {
  const tracked = new Map<string, Map<string, Tracked>>();
  const retryBase = options.retryBaseMs ?? 5000;
  const signatureOf = (e: StorageEntry): string => `${e.size}:${e.mtimeMs}:${e.etag ?? ""}`;

  return {
    observe(pipeline, entries, now) {
      const known = tracked.get(pipeline) ?? new Map<string, Tracked>();
      const next = new Map<string, Tracked>();
      for (const entry of entries) {
        const signature = signatureOf(entry);
        const before = known.get(entry.path);
        if (before && before.signature === signature) next.set(entry.path, before);
        else {
          const since = options.trustMtime && entry.mtimeMs > 0 ? Math.min(now, entry.mtimeMs) : now;
          next.set(entry.path, { signature, since, state: "settling", failures: 0, retryAt: 0 });
        }
      }
      tracked.set(pipeline, next);
    },
    take(now) {
      const ready = new Map<string, string[]>();
      let nextCheckAt: number | undefined;
      const consider = (at: number) => {
        nextCheckAt = nextCheckAt === undefined ? at : Math.min(nextCheckAt, at);
      };
      for (const [pipeline, files] of tracked) {
        const stableFor = options.stableForMs(pipeline);
        for (const [path, file] of files) {
          if (file.state === "queued") continue;
          const readyAt = file.state === "failed" ? file.retryAt : file.since + stableFor;
          if (readyAt > now) {
            consider(readyAt);
            continue;
          }
          file.state = "queued";
          const list = ready.get(pipeline) ?? [];
          list.push(path);
          ready.set(pipeline, list);
        }
      }
      return { ready, nextCheckAt };
    },
    settled(pipeline, leftovers, now) {
      const files = tracked.get(pipeline);
      if (!files) return;
      const left = new Map(leftovers.map((e) => [e.path, e]));
      for (const [path, file] of files) {
        if (file.state !== "queued") continue;
        const entry = left.get(path);
        if (!entry) {
          files.delete(path);
          continue;
        }
        if (signatureOf(entry) !== file.signature) {
          Object.assign(file, { signature: signatureOf(entry), since: now, state: "settling", failures: 0 });
          continue;
        }
        file.failures++;
        file.state = "failed";
        file.retryAt = now + Math.min(300_000, retryBase * 2 ** (file.failures - 1));
      }
    },
    size() {
      let n = 0;
      for (const files of tracked.values()) n += files.size;
      return n;
    },
  };
}
