import { createHash } from "node:crypto";
import { unaccountedLines } from "../engine/account-lines.js";
import type { StagedFile } from "../engine/stage-file.js";
import { asSluiceError, SluiceError } from "../errors.js";
import type { ContentDigest } from "../integrity/hash-file.js";
import { linesOf } from "../integrity/line-count.js";
import type { RunContext } from "./run-context.js";
import type { UnitWork } from "./unit.js";

/** Fails a unit: nothing of it is published; data problems move it to unprocessed/ once identified. */
export function markFailed(
  run: RunContext,
  work: UnitWork,
  error: unknown,
  moveOnFailure: boolean,
): UnitWork {
  const file = work.report;
  const e = asSluiceError(error, "FILE_UNREADABLE", file.path);
  file.status = "failed";
  file.error = e.message;
  work.moveOnFailure = moveOnFailure;
  file.rows.loaded = 0;
  run.logger.warn({ file: file.path, code: e.code }, e.message);
  return work;
}

/**
 * Applies a file's hash to its report: its size is what was hashed (a file that grew or shrank since
 * it was listed is still being written: left for the next run). A replay's row file is known by its
 * content and the replay link it belongs to: the same rows replayed again from the same run are a
 * duplicate, the rows a later replay takes over are not. A compressed file found truncated or
 * corrupt while hashed fails, whatever its read made of it, and moves to unprocessed/.
 */
export function applyDigest(run: RunContext, work: UnitWork, digest: ContentDigest): void {
  const file = work.report;
  if (digest.bytes !== work.unit.size) {
    markFailed(
      run,
      work,
      new SluiceError(
        "FILE_CHANGED",
        `${file.path}: changed while being read (still being written?); left for the next run`,
        { transient: true },
      ),
      false,
    );
    return;
  }
  const replay = run.options.replay;
  const sha256 =
    replay && work.unit.path.startsWith("replay/")
      ? createHash("sha256").update(`replay:${replay.ofRun}:${digest.sha256}`).digest("hex")
      : digest.sha256;
  Object.assign(file, { sha256, size: digest.bytes });
  work.lines = digest.lines;
  if (digest.damage) {
    markFailed(
      run,
      work,
      new SluiceError(
        "FILE_CORRUPT",
        `${file.path}: ${digest.damage}; the file is incomplete or damaged, nothing of it is published`,
      ),
      true,
    );
  }
}

/** Waits for a file hashed while it was read and applies its hash (a read failure fails the file). */
export async function awaitDigest(run: RunContext, work: UnitWork): Promise<void> {
  const pending = work.digest;
  if (!pending) return;
  work.digest = undefined;
  try {
    applyDigest(run, work, await pending);
  } catch (error) {
    markFailed(run, work, readError(work.unit.path, error), false);
  }
}

/**
 * A file whose read left lines unaccounted for (see `unaccountedLines`) fails, named: a reader that
 * loses rows without a word never publishes what it kept.
 */
export async function lostLinesError(
  run: RunContext,
  work: UnitWork,
  materialize?: (staged: StagedFile) => Promise<void>,
): Promise<SluiceError | undefined> {
  const staged = work.staged;
  const file = work.report;
  const format =
    staged?.headerLines !== undefined ? "csv" : staged?.blankLines !== undefined ? "jsonl" : undefined;
  const lines = staged?.lines ?? work.lines;
  if (!staged || !format || !lines || file.status !== "loaded") return undefined;
  const lost = await unaccountedLines(run.con, staged, format, lines, file.rows.read, materialize);
  if (lost === 0) return undefined;
  run.logger.warn({ file: file.path, lines, rows: file.rows }, "lines unaccounted for");
  return new SluiceError(
    "FILE_UNPARSEABLE",
    `${file.path}: ${lost} of its ${linesOf(lines, "any")} lines were neither read as rows nor quarantined (${file.rows.read} rows read); a line may exceed the reader's buffer or a quote may be unbalanced — check the file or set source.options; nothing of it is published`,
  );
}

const VANISHED = "disappeared before it could be read";

/** A landing file listed for a run but gone when the run came to read it (deleted, or taken by another run). */
export function vanishedError(path: string): SluiceError {
  return new SluiceError("FILE_VANISHED", `${path}: ${VANISHED}`, { transient: true });
}

/** Whether a file of a run report failed only because it vanished before it could be read. Pure. */
export function vanishedBeforeRead(file: { readonly path: string; readonly error: string | null }): boolean {
  return file.error === `${file.path}: ${VANISHED}`;
}

/** A file that could not be read, named by why (vanished, permissions, a directory). */
export function readError(path: string, error: unknown): SluiceError {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === "ENOENT") return vanishedError(path);
  if (code === "EACCES" || code === "EPERM") {
    return new SluiceError(
      "FILE_UNREADABLE",
      `${path}: permission denied; fix its permissions and run again`,
      { cause: error },
    );
  }
  if (code === "EISDIR") return new SluiceError("FILE_UNREADABLE", `${path}: is a directory`);
  return asSluiceError(error, "FILE_UNREADABLE", path);
}
