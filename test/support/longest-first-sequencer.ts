import { relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * Seconds the longest test files take in `npm test` (vitest's per-file duration, JSON reporter; the
 * machine was shared, so these are weights, not figures). Refresh after adding or changing a slow file:
 * `CI=true npx vitest run --reporter=json --outputFile=t.json`, then `testResults[].endTime - startTime`.
 */
export const LONG_FILES: Readonly<Record<string, number>> = {
  "test/e2e/stream-kill-scale.test.ts": 84,
  "test/e2e/stream-shared-consumer.test.ts": 67,
  "test/e2e/bad-input.test.ts": 57,
  "test/scale/queue-workers.test.ts": 51,
  "test/warehouse/postgres-suite.test.ts": 46,
  "test/e2e/watch.test.ts": 40,
  "test/e2e/lake-target.test.ts": 30,
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
