import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import type { AddAction } from "./delta-log.js";
import type { DeltaSnapshot } from "./delta-snapshot.js";

/** A simple predicate `column op value`; a list of them is ANDed. */
export interface ColumnPredicate {
  readonly column: string;
  readonly op: "=" | "!=" | "<" | "<=" | ">" | ">=" | "is null" | "is not null";
  readonly value?: string | number | boolean | null;
}

/**
 * SQL text of a predicate.
 *
 * @example
 * predicateSql({ column: "year", op: "=", value: 2024 }); // "\"year\" = 2024"
 */
export function predicateSql(p: ColumnPredicate): string {
  const col = quoteIdent(p.column);
  if (p.op === "is null" || p.op === "is not null") return `${col} ${p.op.toUpperCase()}`;
  const v = p.value;
  const literal =
    typeof v === "number" || typeof v === "boolean"
      ? String(v)
      : v === null || v === undefined
        ? "NULL"
        : quoteLiteral(v);
  return `${col} ${p.op} ${literal}`;
}

/**
 * Drops files that cannot hold matching rows: by partition value, then by
 * per-file `stats` (min/max/nullCount). Never drops a file it is unsure about.
 *
 * @example
 * const files = pruneFiles(snapshot, [{ column: "year", op: "=", value: 2024 }]);
 */
export function pruneFiles(snapshot: DeltaSnapshot, predicates: readonly ColumnPredicate[]): AddAction[] {
  const partitionColumns = new Set(snapshot.metadata.partitionColumns);
  return snapshot.files.filter((file) => {
    let stats: Stats | undefined;
    for (const p of predicates) {
      if (partitionColumns.has(p.column)) {
        const value = file.partitionValues[p.column] ?? null;
        if (!mayMatchValue(value, p)) return false;
        continue;
      }
      stats ??= parseStats(file.stats);
      if (stats && !mayMatchStats(stats, p)) return false;
    }
    return true;
  });
}

interface Stats {
  readonly numRecords?: number;
  readonly minValues?: Readonly<Record<string, unknown>>;
  readonly maxValues?: Readonly<Record<string, unknown>>;
  readonly nullCount?: Readonly<Record<string, unknown>>;
}

function parseStats(text: string | null | undefined): Stats | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as Stats;
  } catch {
    return undefined;
  }
}

function compare(a: unknown, b: unknown): number | undefined {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "number" && typeof b === "string" && b.trim() !== "" && !Number.isNaN(Number(b)))
    return a - Number(b);
  if (typeof a === "string" && typeof b === "number" && a.trim() !== "" && !Number.isNaN(Number(a)))
    return Number(a) - b;
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  return undefined;
}

function mayMatchValue(value: string | null, p: ColumnPredicate): boolean {
  if (p.op === "is null") return value === null;
  if (p.op === "is not null") return value !== null;
  if (value === null || p.value === null || p.value === undefined) return false;
  const target = typeof p.value === "boolean" ? String(p.value) : p.value;
  const c = compare(value, target);
  if (c === undefined) return true;
  switch (p.op) {
    case "=":
      return c === 0;
    case "!=":
      return c !== 0;
    case "<":
      return c < 0;
    case "<=":
      return c <= 0;
    case ">":
      return c > 0;
    default:
      return c >= 0;
  }
}

function mayMatchStats(stats: Stats, p: ColumnPredicate): boolean {
  const nulls = stats.nullCount?.[p.column];
  const rows = stats.numRecords;
  if (p.op === "is null") return typeof nulls !== "number" || nulls > 0;
  const allNull = typeof nulls === "number" && typeof rows === "number" && nulls === rows;
  if (p.op === "is not null") return !allNull;
  if (allNull) return false;
  if (p.value === null || p.value === undefined || typeof p.value === "boolean") return true;
  const min = stats.minValues?.[p.column];
  const rawMax = stats.maxValues?.[p.column];
  // Writers truncate long string maxima; never prune on them.
  const max = typeof rawMax === "string" && rawMax.length >= 32 ? undefined : rawMax;
  const cMin = min === undefined ? undefined : compare(p.value, min);
  const cMax = max === undefined ? undefined : compare(p.value, max);
  switch (p.op) {
    case "=":
      return !((cMin !== undefined && cMin < 0) || (cMax !== undefined && cMax > 0));
    case "<":
      return !(cMin !== undefined && cMin <= 0);
    case "<=":
      return !(cMin !== undefined && cMin < 0);
    case ">":
      return !(cMax !== undefined && cMax >= 0);
    case ">=":
      return !(cMax !== undefined && cMax > 0);
    default:
      return true;
  }
}
