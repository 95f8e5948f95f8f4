/**
 * Volume and distribution anomalies: compares a batch's profile with the profiles of the
 * previous runs of the pipeline. Pure: no I/O.
 *
 * Metrics: the row count, each column's null share (nulls / rows) and each numeric column's
 * mean. For each metric the last {@link HISTORY_WINDOW} history values (history is oldest
 * first) give a mean and a sample standard deviation; |value - mean| / stddev > zThreshold is
 * an anomaly. At least {@link MIN_HISTORY} history values are needed, else the metric is not
 * checked. When the history is constant (stddev 0) any different value is an anomaly (z is
 * reported as null), the same value is not.
 */

import type { Profile } from "./profile.js";

export const HISTORY_WINDOW = 10;
export const MIN_HISTORY = 3;

export interface Anomaly {
  readonly metric: "row_count" | "null_share" | "mean";
  /** Column for per-column metrics, null for the row count. */
  readonly column: string | null;
  readonly value: number;
  readonly expected: number;
  readonly stddev: number;
  /** z-score; null when the history was constant. */
  readonly z: number | null;
  readonly message: string;
}

function stats(values: readonly number[]): { mean: number; sd: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1);
  return { mean, sd: Math.sqrt(variance) };
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(4)));
}

function assess(
  metric: Anomaly["metric"],
  column: string | null,
  value: number | null,
  history: readonly (number | null)[],
  zThreshold: number,
): Anomaly | null {
  if (value === null) return null;
  const past = history.filter((v): v is number => v !== null && Number.isFinite(v)).slice(-HISTORY_WINDOW);
  if (past.length < MIN_HISTORY) return null;
  const { mean, sd } = stats(past);
  const label =
    metric === "row_count" ? "row count" : `${column} ${metric === "null_share" ? "null share" : "mean"}`;
  const tolerance = 1e-9 * Math.max(1, Math.abs(mean));
  if (sd <= tolerance) {
    if (Math.abs(value - mean) <= tolerance) return null;
    return {
      metric,
      column,
      value,
      expected: mean,
      stddev: 0,
      z: null,
      message: `${label} is ${fmt(value)}, it was always ${fmt(mean)} in the last ${past.length} runs`,
    };
  }
  const z = (value - mean) / sd;
  if (Math.abs(z) <= zThreshold) return null;
  return {
    metric,
    column,
    value,
    expected: mean,
    stddev: sd,
    z,
    message:
      `${label} is ${fmt(value)}, expected about ${fmt(mean)} ± ${fmt(sd)} ` +
      `(z-score ${z.toFixed(1)}, limit ${zThreshold}, last ${past.length} runs)`,
  };
}

/**
 * Anomalies of `current` against `history` (oldest first; only the last 10 are used).
 *
 * @example
 * detectAnomalies(todayProfile, previousProfiles, 3)
 * // => [{ metric: "row_count", column: null, value: 12, expected: 1000, z: -41.2, message: "row count is 12, ..." }]
 */
export function detectAnomalies(current: Profile, history: readonly Profile[], zThreshold = 3): Anomaly[] {
  const found: Anomaly[] = [];
  const push = (a: Anomaly | null) => {
    if (a) found.push(a);
  };
  push(
    assess(
      "row_count",
      null,
      current.rows,
      history.map((h) => h.rows),
      zThreshold,
    ),
  );
  for (const [column, profile] of Object.entries(current.columns)) {
    const share = (p: Profile) => {
      const c = p.columns[column];
      return c === undefined || p.rows === 0 ? null : c.nulls / p.rows;
    };
    push(assess("null_share", column, share(current), history.map(share), zThreshold));
    if (profile.mean !== null) {
      push(
        assess(
          "mean",
          column,
          profile.mean,
          history.map((h) => h.columns[column]?.mean ?? null),
          zThreshold,
        ),
      );
    }
  }
  return found;
}
