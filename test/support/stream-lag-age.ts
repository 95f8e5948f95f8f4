import { expect } from "vitest";
import type { StreamSource } from "../../src/streams/stream-source.js";

/**
 * Pulls the 5 messages just published to `s`, waits as a worker publishing the batch before would, and
 * expects the lag's age of the oldest message to be taken when asked, not when the pull ended. Shared by
 * the NATS and Redis source tests.
 */
export async function expectAgedWhenAsked(s: StreamSource): Promise<void> {
  await s.connect();
  const batch = await s.pull({ maxRows: 5, maxBytes: 16 << 20, maxWaitMs: 5_000 });
  expect(batch).toHaveLength(5);
  const oldest = Math.min(...batch.map((m) => m.timestamp.getTime()));
  // The worker asks right before publishing, which may be a whole publish of the batch before it later.
  await new Promise((resolve) => setTimeout(resolve, 800));
  const asked = Date.now();
  const { oldestAgeMs } = await s.lag();
  expect(oldestAgeMs).toBeGreaterThanOrEqual(asked - oldest);
  expect(oldestAgeMs).toBeLessThanOrEqual(Date.now() - oldest);
  await s.ack(batch.map((m) => m.position));
}
