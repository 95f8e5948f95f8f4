import type { PipelineConfig, ProjectConfig } from "../config/schema.js";
import { asSluiceError, SluiceError } from "../errors.js";
import type { ForeignKeySet } from "../plan/check-rules.js";
import { withResolvedColumns } from "../plan/declared-columns.js";
import { quoteIdent, quoteQualified } from "../plan/sql-text.js";
import type { Warehouse } from "../warehouse/warehouse.js";

/** The referenced keys of a pipeline's `foreign_key` checks, staged in the engine for one run. */
export interface StagedForeignKeys {
  /** By position in `checks:`. */
  readonly sets: ReadonlyMap<number, ForeignKeySet>;
  /** Whether a set compares hashed values (the run must then set the mask salt). */
  readonly hashes: boolean;
  /** Engine tables to drop when the run ends. */
  readonly tables: readonly string[];
}

/**
 * Stages the distinct non-null keys of each table a `foreign_key` check references into the engine, once
 * per run and in bulk, through the warehouse's own source staging: DuckDB reads the table in place,
 * PostgreSQL streams `COPY (SELECT DISTINCT ...) TO STDOUT` into the engine. The checks then compare
 * with the same keys whichever warehouse holds them. A referenced table or column that does not exist is
 * a configuration error. When the pipelines that load the referenced table hash the column (`mask:
 * hash`), the checked value is hashed with the same salt before the comparison (`hashSalt`).
 *
 * @example
 * const fk = await stageForeignKeys(warehouse, config, "orders", pipeline, "sluice_r1", maskSaltSql);
 * compileChecks({ ..., foreignKeys: fk.sets });
 */
export async function stageForeignKeys(
  warehouse: Warehouse,
  config: ProjectConfig,
  name: string,
  pipeline: PipelineConfig,
  prefix: string,
  saltSql: string,
): Promise<StagedForeignKeys> {
  const sets = new Map<number, ForeignKeySet>();
  const tables: string[] = [];
  for (const [index, check] of pipeline.checks.entries()) {
    if (check.rule !== "foreign_key") continue;
    const { table, column } = check.references;
    const at = `pipelines.${name}.checks[${index}].references`;
    const columns = await warehouse.columnsOf(table);
    if (columns === undefined) {
      const loader = loadersOf(config, table)[0];
      throw new SluiceError(
        "CONFIG_INVALID",
        `${at}.table: table ${table} does not exist in the warehouse${loader ? ` (pipeline ${loader} loads it: run it first)` : ""}`,
      );
    }
    const found = columns.find((c) => c.toLowerCase() === column.toLowerCase());
    if (found === undefined) {
      throw new SluiceError(
        "CONFIG_INVALID",
        `${at}.column: ${table} has no column ${column} (columns: ${columns.slice(0, 20).join(", ")})`,
      );
    }
    const key = quoteIdent(found);
    const tablePrefix = `${prefix}_fk${index}`;
    const staged = await warehouse
      .stageSource({
        source: {
          sql: `SELECT DISTINCT ${key} AS "_sluice_fk_key" FROM ${quoteQualified(table)} WHERE ${key} IS NOT NULL`,
        },
        columns: {},
        tablePrefix,
      })
      .catch((error: unknown) => {
        // Say which check could not read its keys (the warehouse says "source query").
        const failure = asSluiceError(error);
        throw new SluiceError(
          failure.code,
          `${at}: the keys of ${table}.${found} could not be read: ${failure.message}`,
          {
            cause: error,
            transient: failure.transient,
          },
        );
      });
    tables.push(staged.table, staged.malformedTable);
    const hashed = hashedIn(config, table, found);
    sets.set(index, { table: staged.table, hashSalt: hashed ? saltSql : undefined });
  }
  return { sets, hashes: [...sets.values()].some((s) => s.hashSalt !== undefined), tables };
}

/** Pipelines whose target is `table`. */
function loadersOf(config: ProjectConfig, table: string): string[] {
  return Object.entries(config.pipelines)
    .filter(([, p]) => p.target.table?.toLowerCase() === table.toLowerCase())
    .map(([name]) => name);
}

/** Whether the pipelines loading `table` store `column` hashed (`mask: hash`). */
function hashedIn(config: ProjectConfig, table: string, column: string): boolean {
  return loadersOf(config, table).some((name) => {
    const columns = withResolvedColumns(config.pipelines[name]!).columns;
    return Object.entries(columns).some(
      ([c, settings]) => c.toLowerCase() === column.toLowerCase() && settings.mask === "hash",
    );
  });
}
