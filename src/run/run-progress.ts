import type { DuckDBConnection } from "@duckdb/node-api";

/** The stage a run is in, as progress shows it. */
export type RunStage = "read" | "check" | "publish" | "lake write";

/** Progress of a run, for progress bars. */
export interface RunProgress {
  readonly pipeline: string;
  readonly filesDone: number;
  readonly filesTotal: number;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly current?: string | undefined;
  /** Size of the current file, in bytes. */
  readonly currentBytes?: number | undefined;
  readonly stage?: RunStage | undefined;
  /** How far the engine's current statement of the stage is (0–100), when it tells. */
  readonly stagePercent?: number | undefined;
}

/** What the runner tells the progress: each file as it starts, each stage, the end of reading. */
export interface RunProgressTracker {
  file(index: number, bytesDone: number, path: string, size: number): void;
  stage(stage: RunStage): void;
  filesDone(bytesDone: number): void;
  stop(): void;
}

const POLL_MS = 250;

/**
 * Progress of one pipeline run for `onProgress`: the file and stage as the runner reports them, and
 * in between, every quarter second, how far the engine's running statement is (DuckDB's query
 * progress: for a file read, the share of its bytes scanned), never going back within a stage. A
 * no-op without `onProgress`.
 *
 * @example
 * const progress = await trackRunProgress(con, "orders", entries, options.onProgress);
 * progress.file(0, 0, "in/a.csv", 1024); progress.stage("check"); progress.stop();
 */
export async function trackRunProgress(
  con: DuckDBConnection,
  pipeline: string,
  totals: { readonly filesTotal: number; readonly bytesTotal: number },
  onProgress: ((progress: RunProgress) => void) | undefined,
): Promise<RunProgressTracker> {
  if (!onProgress)
    return {
      file: () => undefined,
      stage: () => undefined,
      filesDone: () => undefined,
      stop: () => undefined,
    };
  // The engine tracks a statement's progress only with its progress bar on; it never prints it itself.
  await con.run("SET enable_progress_bar = true");
  await con.run("SET enable_progress_bar_print = false");
  await con.run("SET progress_bar_time = 0");
  let state: RunProgress = { pipeline, filesDone: 0, bytesDone: 0, ...totals };
  const emit = (next: Partial<RunProgress>) => {
    state = { ...state, ...next };
    onProgress(state);
  };
  const timer = setInterval(() => {
    if (!state.stage) return;
    const percent = con.progress.percentage;
    // A stage runs several statements, each from 0%: the stage's progress shows the furthest one got.
    if (percent > (state.stagePercent ?? -1)) emit({ stagePercent: percent });
  }, POLL_MS);
  timer.unref();
  return {
    file(index, bytesDone, path, size) {
      emit({
        filesDone: index,
        bytesDone,
        current: path,
        currentBytes: size,
        stage: "read",
        stagePercent: undefined,
      });
    },
    stage(stage) {
      if (stage !== state.stage) emit({ stage, stagePercent: undefined });
    },
    filesDone(bytesDone) {
      emit({ filesDone: totals.filesTotal, bytesDone });
    },
    stop() {
      clearInterval(timer);
    },
  };
}
