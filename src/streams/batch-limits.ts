import type { StreamSourceConfig } from "../config/schema.js";
import { parseDuration } from "../durations.js";
import { parseSize } from "../lake/data-files.js";
import type { BatchLimits } from "./stream-source.js";

/**
 * The batch limits of a stream source (defaults: 10,000 rows, 16 MB, 1 s). Pure.
 *
 * @example
 * batchLimits(source) // { maxRows: 10000, maxBytes: 16777216, maxWaitMs: 1000 }
 */
export function batchLimits(config: StreamSourceConfig): BatchLimits {
  const { max_rows, max_bytes, max_wait } = config.batch;
  return { maxRows: max_rows, maxBytes: parseSize(max_bytes), maxWaitMs: parseDuration(max_wait) };
}
