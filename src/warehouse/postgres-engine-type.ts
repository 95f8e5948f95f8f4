/** DuckDB types of PostgreSQL's built-in types, by type OID (`pg_type.oid`). */
export const POSTGRES_TYPES_BY_OID: ReadonlyMap<number, string> = new Map([
  [16, "BOOLEAN"],
  [20, "BIGINT"],
  [21, "SMALLINT"],
  [23, "INTEGER"],
  [26, "BIGINT"], // oid
  [700, "FLOAT"],
  [701, "DOUBLE"],
  [18, "VARCHAR"], // "char"
  [19, "VARCHAR"], // name
  [25, "VARCHAR"], // text
  [1042, "VARCHAR"], // bpchar
  [1043, "VARCHAR"], // varchar
  [1082, "DATE"],
  [1083, "TIME"],
  [1114, "TIMESTAMP"],
  [1184, "TIMESTAMPTZ"],
  [114, "JSON"],
  [3802, "JSON"], // jsonb
  [2950, "UUID"],
]);

/** PostgreSQL's `numeric` type OID. */
export const numericOid = 1700;

/** DuckDB's widest DECIMAL precision. */
export const maxDecimalPrecision = 38;

/**
 * The DuckDB type a PostgreSQL result column is staged as, from its type OID and type modifier (as
 * node-postgres reports them in `fields`: `dataTypeID`, `dataTypeModifier`). `numeric(p,s)` becomes
 * `DECIMAL(p,s)` when DuckDB can hold it; a `numeric` without precision (what `sum()` returns) is
 * `undefined`: its type is decided from the values (see `stagePostgresSource`). Types DuckDB has no
 * counterpart for (arrays, intervals, geometric, ...) stay text, as PostgreSQL prints them.
 *
 * @example
 * postgresEngineType(1700, ((12 << 16) | 2) + 4) // "DECIMAL(12,2)"
 * postgresEngineType(1184, -1) // "TIMESTAMPTZ"
 */
export function postgresEngineType(oid: number, typmod: number): string | undefined {
  if (oid === numericOid) {
    if (typmod < 4) return undefined;
    const precision = ((typmod - 4) >> 16) & 0xffff;
    const scale = (typmod - 4) & 0xffff;
    // A negative scale (PostgreSQL 15: numeric(2,-3)) is stored as 11-bit two's complement: it reads large.
    if (precision > maxDecimalPrecision || scale > precision) return "DOUBLE";
    return `DECIMAL(${precision},${scale})`;
  }
  return POSTGRES_TYPES_BY_OID.get(oid) ?? "VARCHAR";
}
