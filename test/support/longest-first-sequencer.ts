import { relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * Seconds the longest test files took in one full `npm test` (vitest's per-file duration, JSON reporter,
 * 2026-12-07 on a shared machine about three times slower than CI: weights, not figures; the kill test at its
 * npm test size of today, about 0.65 of that run's). Refresh after adding or changing a slow file:
 * `CI=true npx vitest run --reporter=json --outputFile=t.json`, then `testResults[].endTime - startTime`.
 */
export const LONG_FILES: Readonly<Record<string, number>> = {
  "test/e2e/stream-shared-consumer.test.ts": 151,
  "test/e2e/bad-input.test.ts": 144,
  "test/e2e/stream-postgres-restart.test.ts": 141,
  "test/e2e/watch.test.ts": 137,
  "test/e2e/nested-json.test.ts": 119,
  "test/e2e/lake-warehouse-keys.test.ts": 116,
  "test/e2e/cli-commands.test.ts": 111,
  "test/warehouse/postgres-suite.test.ts": 109,
  "test/scale/queue-workers.test.ts": 105,
  "test/e2e/lake-target.test.ts": 102,
  "test/e2e/config-columns.test.ts": 94,
  "test/warehouse/postgres-beside.test.ts": 84,
  "test/e2e/single-pass.test.ts": 84,
  "test/e2e/landing-safety.test.ts": 83,
  "test/e2e/quality.test.ts": 78,
  "test/e2e/stream-kill-scale.test.ts": 73,
  "test/e2e/nested-sources.test.ts": 73,
  "test/e2e/replay-profile.test.ts": 72,
  "test/e2e/core-pipeline.test.ts": 69,
  "test/e2e/files-backfill.test.ts": 65,
  "test/e2e/small-files.test.ts": 61,
  "test/e2e/stream-broker-restart.test.ts": 60,
  "test/e2e/lake-replay-crash.test.ts": 60,
  "test/runner/single-pass-checks.test.ts": 59,
  "test/warehouse/duckdb-suite.test.ts": 53,
};

/**
 * Runs the longest files first, then the rest in vitest's own order (by the durations it cached on this
 * machine, else largest file first). Files go to the forks in this order as each fork comes free, so a
 * long file started last would keep one fork busy while the other idles; on a clean clone (CI) vitest
 * has no durations, and file size says little (a short file that kills workers for a minute sorts near
 * the end).
 */
export class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const ordered = await super.sort(files);
    const seconds = (file: TestSpecification) =>
      LONG_FILES[relative(file.project.config.root, file.moduleId).replaceAll("\\", "/")] ?? 0;
    // Array.prototype.sort is stable: files of no listed weight keep vitest's order after the listed ones.
    return ordered.sort((a, b) => seconds(b) - seconds(a));
  }
}
