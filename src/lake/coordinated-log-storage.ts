import { randomUUID } from "node:crypto";
import type { Storage } from "../storage/storage.js";

/** One claimed log entry in a {@link CommitCoordinator}: who won `name` in `log`, and where its content waits. */
export interface CommitClaim {
  readonly tempPath: string;
  readonly complete: boolean;
}

/**
 * The atomic "put if absent" a store without conditional writes lacks, kept outside it (PostgreSQL):
 * the writer whose claim is recorded first owns the log entry, whatever the store does afterwards.
 */
export interface CommitCoordinator {
  /** Records `tempPath` as the content of `name` in `log`; false when another writer claimed it first. */
  claim(log: string, name: string, tempPath: string): Promise<boolean>;
  /** The claim on `name`, or undefined when none was recorded (written before coordination began). */
  find(log: string, name: string): Promise<CommitClaim | undefined>;
  /** Claims of `log` whose content has not reached the store yet (their writer died or is copying). */
  incomplete(log: string): Promise<{ readonly name: string; readonly tempPath: string }[]>;
  markComplete(log: string, name: string): Promise<void>;
}

/** Log entries whose creation must be exclusive: Delta commits and Parquet lake manifests. */
const LOG_ENTRY = /^(.*\/)?(_delta_log|_manifests)\/([^/]+\.json)$/;

/**
 * A lake Storage whose exclusive writes of log entries (`_delta_log/<version>.json`, `_manifests/<n>.json`)
 * go through `coordinator`, as Delta's multi-cluster S3 log store does with its lock table:
 *
 * 1. the writer first completes any claim of the same log a dead writer left unfinished;
 * 2. writes its content to `<log>/.tmp/<name>.<uuid>` (ignored by log readers);
 * 3. claims the entry in the coordinator: the single point of mutual exclusion;
 * 4. copies the content to the entry (an idempotent overwrite: every copier writes the same bytes);
 * 5. marks the claim complete.
 *
 * A writer killed between 3 and 5 leaves a claim the next writer (or a loser of the race) completes, so
 * a claimed version always appears, with the winner's content. Other writes pass straight through.
 *
 * @example
 * const lake = coordinatedLogStorage(s3Lake, await postgresCommitCoordinator(url));
 */
export function coordinatedLogStorage(inner: Storage, coordinator: CommitCoordinator): Storage {
  const logOf = (dir: string) => `${inner.root.replace(/\/+$/, "")}/${dir}`;
  const finish = async (dir: string, name: string, tempPath: string): Promise<void> => {
    let content: Buffer;
    try {
      content = await inner.readFile(tempPath);
    } catch (error) {
      // Another writer completed it and removed the temporary copy meanwhile.
      if ((await coordinator.find(logOf(dir), name))?.complete) return;
      throw error;
    }
    await inner.writeFile(`${dir}/${name}`, content);
    await coordinator.markComplete(logOf(dir), name);
    await inner.delete(tempPath).catch(() => undefined);
  };
  const completeLeftovers = async (dir: string): Promise<void> => {
    for (const claim of await coordinator.incomplete(logOf(dir)))
      await finish(dir, claim.name, claim.tempPath);
  };
  return {
    ...inner,
    completeLog: completeLeftovers,
    async writeFile(path, data, options = {}) {
      const m = options.exclusive ? LOG_ENTRY.exec(path) : null;
      if (!m) return inner.writeFile(path, data, options);
      const dir = `${m[1] ?? ""}${m[2]}`;
      const name = m[3]!;
      await completeLeftovers(dir);
      // An entry written before coordination began (or by a writer not using it) is never overwritten.
      if (await inner.stat(path)) return false;
      const tempPath = `${dir}/.tmp/${name}.${randomUUID()}`;
      await inner.writeFile(tempPath, data);
      if (!(await coordinator.claim(logOf(dir), name, tempPath))) {
        await inner.delete(tempPath).catch(() => undefined);
        // The winner may have died before its copy: complete it, so the caller can read what won.
        const winner = await coordinator.find(logOf(dir), name);
        if (winner && !winner.complete) await finish(dir, name, winner.tempPath);
        return false;
      }
      await finish(dir, name, tempPath);
      return true;
    },
  };
}
