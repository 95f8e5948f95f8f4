import cliProgress from "cli-progress";
import type { RunProgress } from "../runner/run-pipeline.js";

/**
 * A progress bar on stderr (files and bytes) when stderr is a terminal and output is for a person;
 * otherwise a no-op.
 */
export function createProgress(enabled: boolean): { update(p: RunProgress): void; stop(): void } {
  if (!enabled || !process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: "{pipeline} [{bar}] {value}/{total} files | {mb}/{totalMb} MB | {current}",
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      const payload = {
        pipeline: p.pipeline,
        mb: (p.bytesDone / 1e6).toFixed(1),
        totalMb: (p.bytesTotal / 1e6).toFixed(1),
        current: p.current ?? "",
      };
      if (!started) {
        bar.start(p.filesTotal, p.filesDone, payload);
        started = true;
      } else {
        bar.update(p.filesDone, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
