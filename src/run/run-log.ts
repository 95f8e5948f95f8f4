import { closeSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import pino, { type Logger } from "pino";
import { asSluiceError } from "../errors.js";
import { runLogPath } from "../plan/landing-paths.js";
import type { Storage } from "../storage/storage.js";
import { makeWorkDir } from "../storage/work-dir.js";
import type { RunReport } from "./run-report.js";
import { storageWriteProblem } from "./storage-problem.js";

/** The structured log of one run: JSON lines written to `logs/YYYY/MM/DD/<run_id>.jsonl` in the landing zone. */
export interface RunLog {
  readonly logger: Logger;
  readonly path: string;
  /**
   * Why the log could not be written (a full disk...), as one line naming the file; undefined while
   * every line was written. Logging never throws: a run is not broken by its log.
   */
  problem(): string | undefined;
  /** Whether not even the first line could be written. */
  empty(): boolean;
  /** Flushes the log and, for remote landing zones, uploads it. */
  close(): Promise<void>;
}

/**
 * Opens a run's log. Local landing zones are written in place as events happen (a crash keeps what was
 * logged); remote ones are written locally and uploaded on close.
 *
 * @example
 * const log = openRunLog(landing, runId, new Date());
 * log.logger.info({ file: "in/a.csv" }, "staged");
 * await log.close();
 */
export function openRunLog(landing: Storage, runId: string, startedAt: Date): RunLog {
  const path = runLogPath(runId, startedAt);
  const direct = landing.localPath(path);
  const tempDir = direct ? undefined : makeWorkDir("log");
  const file = direct ?? join(tempDir!, "run.jsonl");
  let problem: string | undefined;
  let written = 0;
  let fd: number | undefined;
  try {
    mkdirSync(dirname(file), { recursive: true });
    fd = openSync(file, "a");
  } catch (error) {
    problem = storageWriteProblem(error, path);
  }
  // Synchronous appends (a crash keeps every line); the first failure stops the log and is remembered.
  const destination = {
    write(line: string): void {
      if (fd === undefined || problem) return;
      try {
        writeSync(fd, line);
        written++;
      } catch (error) {
        problem = storageWriteProblem(error, path);
      }
    },
  };
  const logger = pino({ base: { run_id: runId }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
  return {
    logger,
    path,
    problem: () => problem,
    empty: () => written === 0,
    async close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      if (tempDir) {
        try {
          await landing.putLocalFile(file, path);
        } catch (error) {
          problem ??= storageWriteProblem(error, path);
        }
        rmSync(tempDir, { recursive: true, force: true });
      }
    },
  };
}

/** The log's problem as a run warning, if it had one. */
export function logProblem(log: RunLog): string[] {
  const problem = log.problem();
  return problem ? [`${problem}; the run's log is incomplete`] : [];
}

/**
 * Opens the log of a run about to start. A log that cannot be opened (its folder is a symbolic link)
 * fails the run before it does anything, with the run's report attached to the error.
 */
export function openRunLogOf(landing: Storage, report: RunReport, startedAt: Date): RunLog {
  try {
    return openRunLog(landing, report.run_id, startedAt);
  } catch (error) {
    const failure = asSluiceError(error, "STORAGE_ERROR", "the run log cannot be written");
    Object.assign(report, {
      status: "failed",
      error: failure.message,
      finished_at: new Date().toISOString(),
    });
    throw Object.assign(failure, { report });
  }
}
