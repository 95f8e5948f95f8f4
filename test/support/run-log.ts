import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** One line of a run's JSON log: its message and the fields logged with it. */
export interface RunLogLine {
  readonly msg: string;
  readonly [field: string]: unknown;
}

/**
 * The lines of the run logs a project wrote under landing/logs (one `<run_id>.jsonl` a run), parsed:
 * the run `runId`'s only, or every run's when none is named. Throws when there is none: a check that a
 * message is absent must not pass because the log is.
 *
 * @example
 * expect(runLogMessages(dir, run.run_id)).not.toContain("staged");
 */
export function runLog(dir: string, runId?: string): RunLogLine[] {
  const logs = join(dir, "landing", "logs");
  const files = readdirSync(logs, { recursive: true, encoding: "utf8" }).filter((f) =>
    f.endsWith(runId === undefined ? ".jsonl" : `${runId}.jsonl`),
  );
  if (files.length === 0) throw new Error(`no run log${runId ? ` of run ${runId}` : ""} under ${logs}`);
  return files
    .flatMap((f) => readFileSync(join(logs, f), "utf8").trim().split("\n"))
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as RunLogLine);
}

/** The messages of a project's run logs (the run `runId`'s only, or every run's), in order. */
export function runLogMessages(dir: string, runId?: string): string[] {
  return runLog(dir, runId).map((line) => String(line.msg));
}
