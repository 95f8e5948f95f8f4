import type { RunProgress } from "../run/run-pipeline.js";

/** A run in flight, as the runs page and `/api/live` show it. */
export interface LiveRun extends RunProgress {
  readonly since: string;
}

/** What this process is running right now (fed by `watch --serve`; empty for `sluice serve`). */
export interface LiveRuns {
  progress(progress: RunProgress): void;
  finished(pipeline: string): void;
  list(): LiveRun[];
}

/** An in-memory view of the runs in flight. */
export function createLiveRuns(): LiveRuns {
  const runs = new Map<string, LiveRun>();
  return {
    progress(p) {
      runs.set(p.pipeline, { ...p, since: runs.get(p.pipeline)?.since ?? new Date().toISOString() });
    },
    finished(pipeline) {
      runs.delete(pipeline);
    },
    list: () => [...runs.values()],
  };
}
