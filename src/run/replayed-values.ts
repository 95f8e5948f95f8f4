import type { PipelineConfig } from "../config/schema.js";

/**
 * The pipeline as it applies to quarantined values being replayed (`sluice replay`). Those values were
 * stored after parsing and masking: dates and timestamps are ISO text whatever `format:` the source
 * used, and `hash` masks already ran (hashing again would change the value). So declared formats are
 * not applied again, nor are hash masks; every other setting (types, checks, other masks, which leave a
 * masked value as it is) applies as to a file. Failed files replayed from unprocessed/ are raw source
 * files and take the pipeline as configured.
 *
 * @example
 * quarantinedValuesConfig(pipeline).columns.order_date; // { type: "date" } (format dropped)
 */
export function quarantinedValuesConfig(pipeline: PipelineConfig): PipelineConfig {
  const columns = Object.fromEntries(
    Object.entries(pipeline.columns).map(([name, c]) => {
      const { format: _format, ...rest } = c;
      return [name, rest.mask === "hash" ? { ...rest, mask: undefined } : rest];
    }),
  );
  return { ...pipeline, columns };
}

/**
 * SQL for the `values` of a replayed quarantined row that does not parse under the current config: the
 * raw JSON line is the stored (already masked) values, so it stays replayable once the config is fixed.
 */
export const replayedValuesSql = "TRY_CAST(raw AS JSON)";
