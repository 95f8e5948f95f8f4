import type { RunProgress } from "../run/run-progress.js";

const BAR_WIDTH = 20;
/** Least time between two frames of the same stage (a stage change always shows). */
const FRAME_MS = 100;

/**
 * One line of progress: the bar covers the run's bytes (a file being read counts by the share the
 * engine has scanned), then files, the current file, its stage with how far it is, and megabytes. Pure.
 *
 * @example
 * renderProgress({ pipeline: "orders", filesDone: 0, filesTotal: 2, bytesDone: 0, bytesTotal: 2e6,
 *   current: "in/a.csv", currentBytes: 1e6, stage: "read", stagePercent: 50 }, 100)
 * // "orders [█████···············] 0/2 files · in/a.csv · read 50% · 0.5/2.0 MB"
 */
export function renderProgress(p: RunProgress, width: number): string {
  const percent = p.stagePercent === undefined ? undefined : Math.max(0, Math.min(100, p.stagePercent));
  // Within the current file only reading is measured in bytes; later stages count it whole.
  const inFile = p.stage === undefined ? 0 : p.stage === "read" ? (percent ?? 0) / 100 : 1;
  const done =
    p.bytesTotal > 0
      ? Math.min(
          p.bytesTotal,
          p.bytesDone + (p.current && p.filesDone < p.filesTotal ? (p.currentBytes ?? 0) * inFile : 0),
        )
      : 0;
  const fraction =
    p.bytesTotal > 0
      ? done / p.bytesTotal
      : p.filesTotal > 0
        ? Math.min(1, (p.filesDone + inFile) / p.filesTotal)
        : 0;
  const filled = Math.round(fraction * BAR_WIDTH);
  const parts = [
    `${p.pipeline} [${"█".repeat(filled)}${"·".repeat(BAR_WIDTH - filled)}] ${p.filesDone}/${p.filesTotal} files`,
  ];
  if (p.current && p.filesDone < p.filesTotal) parts.push(p.current);
  if (p.stage) parts.push(percent === undefined ? p.stage : `${p.stage} ${Math.floor(percent)}%`);
  if (p.bytesTotal > 0) parts.push(`${(done / 1e6).toFixed(1)}/${(p.bytesTotal / 1e6).toFixed(1)} MB`);
  const line = parts.join(" · ");
  return line.length > width - 1 ? `${line.slice(0, Math.max(0, width - 2))}…` : line;
}

/**
 * A progress line on stderr when stderr is a terminal and output is for a person (redrawn in place);
 * `SLUICE_PROGRESS=1` forces it where stderr is not a terminal, one line per frame (for logs and
 * tests). Otherwise a no-op.
 */
export function createProgress(
  enabled: boolean,
  stream: NodeJS.WriteStream = process.stderr,
): { readonly shown: boolean; update(p: RunProgress): void; stop(): void } {
  const forced = process.env.SLUICE_PROGRESS === "1";
  if (!enabled || (!stream.isTTY && !forced)) {
    return { shown: false, update: () => undefined, stop: () => undefined };
  }
  const inPlace = stream.isTTY === true;
  let last = { at: 0, stage: "", line: "" };
  let drawn = false;
  return {
    shown: true,
    update(p) {
      const key = `${p.pipeline}:${p.current ?? ""}:${p.stage ?? ""}`;
      const now = Date.now();
      if (key === last.stage && now - last.at < FRAME_MS) return;
      const line = renderProgress(p, inPlace ? (stream.columns ?? 80) : 200);
      if (line === last.line) return;
      last = { at: now, stage: key, line };
      stream.write(inPlace ? `\r${line}\x1b[K` : `${line}\n`);
      drawn = true;
    },
    stop() {
      if (drawn && inPlace) stream.write("\r\x1b[K");
    },
  };
}
