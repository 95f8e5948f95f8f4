/** Values up to this magnitude square and sum in a double without overflow (1e140² = 1e280). */
const PLAIN_MAGNITUDE = "1e140";
/** Larger values are scaled down by this factor first (1.8e308 · 1e-160 squared stays finite). */
const SCALE_DOWN = "1e-160";
const SCALE_UP = "1e160";

/**
 * A sample standard deviation of a DOUBLE expression that never fails: DuckDB's `stddev_samp` throws
 * "out of range" once the squared deviations overflow (values beyond ~1e154, such as a float column
 * holding -1e300 and 1e300). Values that large are scaled down before the aggregate and the result
 * scaled back; a column holding an infinity or NaN has no finite stddev and gets NULL.
 *
 * @example
 * stddevSql('CAST("amount" AS DOUBLE)') // an aggregate expression for a one-row SELECT
 */
export function stddevSql(value: string): string {
  const largest = `max(abs(${value}))`;
  return (
    `(CASE WHEN NOT isfinite(${largest}) THEN NULL ` +
    `WHEN ${largest} <= ${PLAIN_MAGNITUDE} ` +
    `THEN stddev_samp(${value}) FILTER (WHERE abs(${value}) <= ${PLAIN_MAGNITUDE}) ` +
    `ELSE stddev_samp(${value} * ${SCALE_DOWN}) FILTER (WHERE isfinite(${value})) * ${SCALE_UP} END)`
  );
}
