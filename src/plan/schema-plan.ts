import type { SqlDialect, TypedColumn } from "./sql-dialect.js";
import { type CanonicalType, canonicalType, duckdbDdlType, typeChange } from "./type-evolution.js";

export type { TypedColumn } from "./sql-dialect.js";

/** What must happen to a target table before a batch can be written into it. */
export interface SchemaPlan {
  /** The table does not exist: create it with these columns (types in the target dialect). */
  readonly create: readonly TypedColumn[] | undefined;
  /** Columns to add (types in the target dialect). */
  readonly add: readonly TypedColumn[];
  /** Columns to widen to the given type (target dialect), from the type they have. */
  readonly widen: readonly (TypedColumn & { readonly from: string })[];
  /** Incoming columns not written (`discard_columns`). */
  readonly discard: readonly string[];
  /** Incoming text columns whose every value must convert to the existing type (DuckDB spelling). */
  readonly checks: readonly TypedColumn[];
  /** Type changes allowed only while the table is empty (type in the target dialect). */
  readonly narrowIfEmpty: readonly (TypedColumn & { readonly from: string; readonly incoming: string })[];
  /** Problems that fail the run, one sentence each. */
  readonly errors: readonly string[];
}

/** Sluice's own columns: always allowed, whatever the policy. */
export function isSluiceColumn(name: string): boolean {
  return name.startsWith("_sluice_") || name === "valid_from" || name === "valid_to" || name === "is_current";
}

/**
 * Plans schema evolution of a target for an incoming batch under a `schema_evolution` policy. Pure.
 * `existing` is undefined when the table does not exist; incoming types are DuckDB's.
 *
 * @example
 * planSchema("orders", [{ name: "id", type: "integer" }], [{ name: "id", type: "BIGINT" }], "evolve", postgresDialect)
 * // widen: [{ name: "id", type: "bigint" }]
 */
export function planSchema(
  table: string,
  existing: readonly TypedColumn[] | undefined,
  incoming: readonly TypedColumn[],
  policy: "evolve" | "freeze" | "discard_columns",
  dialect: SqlDialect,
): SchemaPlan {
  const plan = {
    create: undefined as TypedColumn[] | undefined,
    add: [] as TypedColumn[],
    widen: [] as (TypedColumn & { from: string })[],
    discard: [] as string[],
    checks: [] as TypedColumn[],
    narrowIfEmpty: [] as (TypedColumn & { from: string; incoming: string })[],
    errors: [] as string[],
  };
  if (!existing) {
    plan.create = incoming.map((c) => ({
      name: c.name,
      type: dialect.columnType(c.type),
    }));
    return plan;
  }
  const byName = new Map(existing.map((c) => [c.name, c]));
  for (const column of incoming) {
    const old = byName.get(column.name);
    if (!old) {
      if (policy === "evolve" || isSluiceColumn(column.name)) {
        plan.add.push({
          name: column.name,
          type: dialect.columnType(column.type),
        });
      } else if (policy === "discard_columns") {
        plan.discard.push(column.name);
      } else {
        plan.errors.push(
          `table ${table}: new column "${column.name}" (${column.type}) is not in the table and schema_evolution is freeze; add it by hand or set schema_evolution: evolve`,
        );
      }
      continue;
    }
    const change = typeChange(old.type, column.type);
    const describe = `table ${table}: column "${column.name}": type changed from ${old.type} to ${column.type}`;
    switch (change.kind) {
      case "same":
      case "fits":
        break;
      case "check":
        // The check runs in the engine: the type is DuckDB's whatever the warehouse.
        plan.checks.push({ name: column.name, type: duckdbDdlType(old.type) });
        break;
      case "widen":
        if (policy === "evolve")
          plan.widen.push({ name: column.name, type: dialect.ddlType(change.to), from: old.type });
        else plan.errors.push(`${describe}; widening needs schema_evolution: evolve (it is ${policy})`);
        break;
      case "incompatible": {
        const from = canonicalType(old.type);
        const to: CanonicalType = canonicalType(column.type);
        if (policy === "evolve" && from.family === "string" && to.family !== "string") {
          plan.narrowIfEmpty.push({
            name: column.name,
            type: dialect.ddlType(to),
            from: old.type,
            incoming: column.type,
          });
        } else {
          plan.errors.push(
            `${describe}, which is not a safe widening; declare the column's type under columns: in the pipeline or migrate the table by hand`,
          );
        }
        break;
      }
    }
  }
  return plan;
}

/** A change a load made to its target table's columns (`schema_changes` of a run). */
export interface SchemaChange {
  readonly column: string;
  readonly change: "added" | "widened" | "retyped";
  /** The column's type before (null for a new column). */
  readonly from: string | null;
  readonly to: string;
}

/**
 * The changes a schema plan makes to an existing table, as a run reports them (Sluice's own columns
 * and a table's creation are not changes). Pure.
 *
 * @example
 * schemaChanges(planSchema("t", [{ name: "id", type: "INTEGER" }], [{ name: "id", type: "BIGINT" }], "evolve", duckdbDialect))
 * // [{ column: "id", change: "widened", from: "INTEGER", to: "BIGINT" }]
 */
export function schemaChanges(plan: SchemaPlan): SchemaChange[] {
  if (plan.create) return [];
  return [
    ...plan.add
      .filter((c) => !isSluiceColumn(c.name))
      .map((c) => ({ column: c.name, change: "added" as const, from: null, to: c.type })),
    ...plan.widen.map((c) => ({ column: c.name, change: "widened" as const, from: c.from, to: c.type })),
    ...plan.narrowIfEmpty.map((c) => ({
      column: c.name,
      change: "retyped" as const,
      from: c.from,
      to: c.type,
    })),
  ];
}
