import type { PipelineConfig } from "../config/schema.js";
import { SluiceError } from "../errors.js";
import type { StagedColumn } from "./read-sql.js";

/**
 * The error for a file whose published columns (source columns less `mask: drop`, plus `derive:`
 * columns) include a name longer than the warehouse keeps (`limitBytes`, UTF-8; PostgreSQL: 63), or
 * undefined. PostgreSQL silently cuts such a name short, so the first load would create a column named
 * differently from the data and every later load would fail; the file is refused instead, before
 * anything is published, naming the file and the column. Pure.
 *
 * @example
 * longColumnNameError(staged.columns, pipeline, "in/a.csv", 63); // SluiceError SCHEMA_CHANGE or undefined
 */
export function longColumnNameError(
  columns: readonly Pick<StagedColumn, "name">[],
  pipeline: Pick<PipelineConfig, "derive" | "columns">,
  file: string,
  limitBytes: number | undefined,
): SluiceError | undefined {
  if (limitBytes === undefined) return undefined;
  const published = [
    ...columns.map((c) => c.name).filter((name) => pipeline.columns[name]?.mask !== "drop"),
    ...Object.keys(pipeline.derive),
  ];
  const long = published.find((name) => Buffer.byteLength(name, "utf8") > limitBytes);
  if (long === undefined) return undefined;
  const derived = long in pipeline.derive;
  const remedy = derived
    ? `rename derive.${long}`
    : `rename it at the source, or leave it out with columns: { ${JSON.stringify(long)}: { mask: drop } }`;
  return new SluiceError(
    "SCHEMA_CHANGE",
    `${file}: column ${JSON.stringify(long)} is ${Buffer.byteLength(long, "utf8")} bytes long; the warehouse keeps at most ${limitBytes} bytes of a name (a longer one is cut short): ${remedy}; nothing was published (the file stays in the landing zone)`,
  );
}
