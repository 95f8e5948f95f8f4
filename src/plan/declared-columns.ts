/**
 * Which column of the rows a `columns:` key means. A key may be written as the source names the column
 * (`E-Mail`) or as Sluice names it (`e_mail`): both resolve to the name the column has in the rows, by
 * the same normalization the header gets. Every step of a run (stage types, masks, checks' withheld
 * values, quarantine values, profile, dedupe) looks declared columns up by that name. Pure.
 */

import type { ColumnConfig, NestedConfig, PipelineConfig } from "../config/schema.js";
import { SluiceError } from "../errors.js";
import { normalizeColumnNames } from "./column-names.js";
import { flattensNested, nestedColumnName } from "./nested-json.js";

export type Naming = PipelineConfig["naming"];

/** One `columns:` entry: the key as written and the name of the column it means. */
export interface DeclaredColumn {
  readonly key: string;
  readonly name: string;
  readonly config: ColumnConfig;
}

/**
 * How a pipeline's source columns are named: files follow `naming:`; a warehouse query's result keeps
 * its names (they are not normalized).
 *
 * @example
 * sourceNaming({ source: { sql: "select 1" }, naming: "snake_case" }) // => "keep"
 */
export function sourceNaming(pipeline: Pick<PipelineConfig, "source" | "naming">): Naming {
  return "path" in pipeline.source ? pipeline.naming : "keep";
}

/**
 * The name the column a `columns:` key means has in the rows.
 *
 * @example
 * declaredColumnName("E-Mail", "snake_case") // => "e_mail"
 * declaredColumnName("E-Mail", "keep") // => "E-Mail"
 */
export function declaredColumnName(key: string, naming: Naming, nested = false): string {
  if (nested && /\.|__/.test(key)) return nestedColumnName(key, naming);
  return normalizeColumnNames([key], naming)[0]!;
}

/** The pipeline's `nested:` when it flattens (an optional key of the pipelines this module takes). */
function nestedOf(pipeline: object): NestedConfig | undefined {
  const nested = (pipeline as { nested?: NestedConfig }).nested;
  return flattensNested(nested) ? nested : undefined;
}

/**
 * Every `columns:` entry with the column it means, and the keys that mean a column an earlier key
 * already declared (`E-Mail` and `e_mail` together): each such key is a problem (path relative to
 * the pipeline).
 *
 * @example
 * resolveDeclaredColumns(pipeline).columns // [{ key: "E-Mail", name: "e_mail", config: { mask: "email" } }]
 */
export function resolveDeclaredColumns(pipeline: Pick<PipelineConfig, "source" | "naming" | "columns">): {
  columns: DeclaredColumn[];
  problems: { path: string; message: string }[];
} {
  const naming = sourceNaming(pipeline);
  // Nested paths (`address.city`) mean flattened columns where the pipeline flattens nested JSON.
  const nested = nestedOf(pipeline) !== undefined;
  const columns: DeclaredColumn[] = [];
  const problems: { path: string; message: string }[] = [];
  for (const [key, config] of Object.entries(pipeline.columns)) {
    const name = declaredColumnName(key, naming, nested);
    const earlier = columns.find((c) => c.name === name);
    if (earlier) {
      problems.push({
        path: `columns.${key}`,
        message: `means the same column as columns.${earlier.key} (both name ${name}); declare it once`,
      });
      continue;
    }
    columns.push({ key, name, config });
  }
  return { columns, problems };
}

/**
 * The pipeline as a run uses it: `columns:` keyed by the names the columns have in the rows. Throws
 * CONFIG_INVALID when two keys mean one column (`sluice validate` reports that first).
 *
 * @example
 * withResolvedColumns(pipeline).columns // { e_mail: { mask: "email" } } for `"E-Mail": { mask: email }`
 */
export function withResolvedColumns<P extends Pick<PipelineConfig, "source" | "naming" | "columns">>(
  pipeline: P,
): P {
  const { columns, problems } = resolveDeclaredColumns(pipeline);
  if (problems[0]) {
    throw new SluiceError("CONFIG_INVALID", `${problems[0].path}: ${problems[0].message}`);
  }
  const nested = nestedOf(pipeline);
  // A file's stage reads `source`: it carries how nested values land (see StageRequest.source).
  const source = nested && "path" in pipeline.source ? { ...pipeline.source, nested } : pipeline.source;
  return { ...pipeline, source, columns: byName(columns) };
}

/** Declared columns keyed by the names the columns have in the rows. */
export function byName(columns: readonly DeclaredColumn[]): Record<string, ColumnConfig> {
  return Object.fromEntries(columns.map((c) => [c.name, c.config]));
}
