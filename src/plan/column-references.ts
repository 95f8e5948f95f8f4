/**
 * Columns a pipeline names outside its rules — `columns:` (types and masks), target keys and partitions,
 * the incremental cursor — checked against the columns some data has: a sample file at validate time,
 * each file at run time. Rules and dedupe keys are checked by `validateChecks`. Pure.
 */

import type { PipelineConfig } from "../config/schema.js";
import { SluiceError } from "../errors.js";
import { resolveDeclaredColumns } from "./declared-columns.js";
import { didYouMean } from "./nearest-name.js";

/** A column of some data: its name in the rows, its name in the source, and whether `derive:` makes it. */
export interface DataColumn {
  readonly name: string;
  readonly sourceName?: string | undefined;
  readonly derived?: boolean | undefined;
  /** Paths inside a JSON column of flattened nested data (`items__sku`); a mask may name one. */
  readonly inside?: readonly string[] | undefined;
}

/** A problem with a column the config names (path relative to the pipeline); `mask` when a mask cannot be applied. */
export interface ColumnProblem {
  readonly path: string;
  readonly message: string;
  readonly mask: boolean;
}

type Named = Pick<PipelineConfig, "source" | "naming" | "columns" | "derive">;

/**
 * The `columns:` keys the data cannot take: the column a key means is not in the data, or several
 * columns of the data could be meant (a header repeating a name). A masked key must mean a source
 * column: a derived column is computed after masking. `where` names the data in messages; without
 * `data`, only masks on derived columns are found.
 *
 * @example
 * declaredColumnProblems(pipeline, [{ name: "id" }, { name: "e_mail", sourceName: "E-mail" }], "in/a.csv")
 * // email: { mask: email } → [{ path: "columns.email.mask", message: "mask email cannot be applied: no column email in in/a.csv ...; did you mean `e_mail`?", mask: true }]
 */
export function declaredColumnProblems(
  pipeline: Named,
  data: readonly DataColumn[] | undefined,
  where: string,
): ColumnProblem[] {
  const problems: ColumnProblem[] = [];
  const sourceColumns = data?.filter((c) => !c.derived) ?? [];
  for (const { key, name, config } of resolveDeclaredColumns(pipeline).columns) {
    const mask = config.mask !== undefined;
    const path = mask ? `columns.${key}.mask` : `columns.${key}`;
    if (mask && pipeline.derive[name] !== undefined) {
      problems.push({
        path,
        message: `mask ${config.mask} cannot be applied: ${name} is a derived column, computed after masks; mask the columns it is derived from`,
        mask,
      });
      continue;
    }
    // Without data only what the config alone tells is checked.
    if (!data) continue;
    const candidates = mask ? sourceColumns : data;
    const meant = sourceColumns.filter((c) => c.name === name || c.sourceName?.trim() === key.trim());
    if (meant.length > 1) {
      problems.push({
        path,
        message: `${where} has several columns this key could mean (${meant.map(describe).join(", ")}); declare the one meant by its name in the rows (${meant.map((c) => c.name).join(" or ")})`,
        mask,
      });
      continue;
    }
    if (candidates.some((c) => c.name === name)) continue;
    // A mask on a path inside a JSON column is applied inside its values as they are staged.
    if (mask && sourceColumns.some((c) => c.inside?.includes(name))) continue;
    const names = [
      ...candidates.map((c) => c.name),
      ...(mask ? sourceColumns.flatMap((c) => c.inside ?? []) : []),
    ];
    const near = didYouMean(key, names) || didYouMean(name, names);
    const missing = `no column ${name} in ${where} (its columns: ${listed(names)})${near || "; name one of them, as the file does or normalized"}`;
    problems.push({
      path,
      message: mask ? `mask ${config.mask} cannot be applied: ${missing}` : missing,
      mask,
    });
  }
  return problems;
}

/**
 * Target keys, partition columns, tracked columns and the incremental cursor that name a column the data
 * lacks. The keys of Debezium change events name fields of their `after` record, and change events in
 * Kafka Connect's envelope (`{ schema, payload }`) carry their fields inside `payload`: not checked here.
 *
 * @example
 * keyColumnProblems(pipeline, [{ name: "id" }]) // target.keys: [order_id] → [{ path: "target.keys[0]", ... }]
 */
export function keyColumnProblems(
  pipeline: Pick<PipelineConfig, "target" | "incremental">,
  data: readonly DataColumn[],
): { path: string; message: string }[] {
  const refs: { path: string; column: string; sourceOnly?: boolean }[] = [];
  const list = (path: string, columns: readonly string[] | undefined) => {
    for (const [i, column] of (columns ?? []).entries()) refs.push({ path: `${path}[${i}]`, column });
  };
  const { target } = pipeline;
  const fieldsInside =
    target.mode === "cdc" &&
    ((target.cdc?.format ?? "debezium") === "debezium" || data.some((c) => c.name === "payload"));
  if (!fieldsInside) {
    list("target.keys", target.keys);
    list("target.partition_by", target.partition_by);
    list("target.track", target.track);
    list("target.lake.keys", target.lake?.keys);
    list("target.lake.partition_by", target.lake?.partition_by);
  }
  if (pipeline.incremental) {
    refs.push({ path: "incremental.cursor", column: pipeline.incremental.cursor, sourceOnly: true });
  }
  const problems: { path: string; message: string }[] = [];
  for (const ref of refs) {
    const names = data.filter((c) => !(ref.sourceOnly && c.derived)).map((c) => c.name);
    if (names.includes(ref.column)) continue;
    problems.push({
      path: ref.path,
      message: `unknown column "${ref.column}" (columns: ${listed(names)})${didYouMean(ref.column, names)}`,
    });
  }
  return problems;
}

/**
 * The error failing a file whose columns cannot take a declared mask (masks protect personal data: such
 * a file is never loaded unmasked), or undefined. The file stays in the landing zone for a run after
 * the config is fixed.
 *
 * @example
 * const error = unmaskableColumnError(pipeline, staged.columns, "in/a.csv"); if (error) fail(error);
 */
export function unmaskableColumnError(
  pipeline: Named,
  columns: readonly DataColumn[],
  file: string,
): SluiceError | undefined {
  const problem = declaredColumnProblems(pipeline, columns, file).find((p) => p.mask);
  if (!problem) return undefined;
  return new SluiceError(
    "CONFIG_INVALID",
    `${file}: ${problem.path}: ${problem.message}${problem.message.endsWith("?") ? " The" : "; the"} file stays in the landing zone`,
  );
}

function describe(column: DataColumn): string {
  return column.sourceName !== undefined && column.sourceName !== column.name
    ? `${column.name} from "${column.sourceName}"`
    : column.name;
}

function listed(names: readonly string[]): string {
  if (names.length === 0) return "none";
  const shown = names.slice(0, 20).join(", ");
  return names.length > 20 ? `${shown}, ...` : shown;
}
