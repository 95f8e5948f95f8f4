import { maxDecimalPrecision, POSTGRES_TYPES_BY_OID } from "../warehouse/postgres-engine-type.js";

/**
 * One column of a database extract: how the source writes it as CSV text and how the engine reads
 * that text back into its type. The mapping is documented in docs/sources.md.
 */
export interface ExtractColumn {
  readonly name: string;
  /** The engine (DuckDB) type; undefined for an unconstrained PostgreSQL `numeric` (typed from its values). */
  readonly engineType: string | undefined;
  /** PostgreSQL only: the expression selected on the server, over the quoted column name. */
  readonly serverSql?: (column: string) => string;
  /** The engine expression turning the CSV text `text` into the column's value. */
  readonly loadSql: (text: string) => string;
}

/** Why a column's type cannot be carried: a message naming the column and what to do. */
export interface TypeProblem {
  readonly problem: string;
}

const castTo =
  (type: string) =>
  (text: string): string =>
    `CAST(${text} AS ${type})`;

/**
 * PostgreSQL scalar types by OID, as DuckDB types (their text form casts as is): the warehouse's own
 * mapping, plus the network, XML and zoned-time types an extract carries as such.
 */
const postgresScalars: ReadonlyMap<number, string> = new Map([
  ...POSTGRES_TYPES_BY_OID,
  [142, "VARCHAR"], // xml
  [650, "VARCHAR"], // cidr
  [869, "VARCHAR"], // inet
  [829, "VARCHAR"], // macaddr
  [1266, "TIMETZ"],
]);

/** PostgreSQL array types by OID, with their element's DuckDB type (sent as JSON, cast to a list). */
const postgresArrays: ReadonlyMap<number, string> = new Map([
  [1000, "BOOLEAN"],
  [1005, "SMALLINT"],
  [1007, "INTEGER"],
  [1016, "BIGINT"],
  [1021, "FLOAT"],
  [1022, "DOUBLE"],
  [1009, "VARCHAR"],
  [1015, "VARCHAR"],
  [1014, "VARCHAR"],
  [1182, "DATE"],
  [1115, "TIMESTAMP"],
  [1185, "TIMESTAMPTZ"],
  [2951, "UUID"],
  [199, "JSON"],
  [3807, "JSON"],
]);

/** What the source's catalog says about a type the result metadata alone does not place. */
export interface PostgresTypeInfo {
  readonly name: string;
  /** `pg_type.typtype`: `e` for an enum. */
  readonly kind: string;
}

/**
 * How a PostgreSQL result column is extracted: scalars as their text, arrays as JSON cast to a DuckDB
 * list (multi-dimensional arrays nest), bytea as hex, enums as text. `numeric(p,s)` keeps its precision
 * up to DuckDB's 38 digits; wider is refused (a DOUBLE would lose digits silently).
 *
 * @example
 * postgresExtractColumn({ name: "id", dataTypeID: 23, dataTypeModifier: -1 }, undefined).engineType // "INTEGER"
 */
export function postgresExtractColumn(
  field: { readonly name: string; readonly dataTypeID: number; readonly dataTypeModifier: number },
  info: PostgresTypeInfo | undefined,
): ExtractColumn | TypeProblem {
  const { name, dataTypeID: oid, dataTypeModifier: typmod } = field;
  const scalar = postgresScalars.get(oid);
  if (scalar) return { name, engineType: scalar, loadSql: castTo(scalar) };
  if (oid === 1700) {
    if (typmod < 4) return { name, engineType: undefined, loadSql: (text) => text };
    const precision = ((typmod - 4) >> 16) & 0xffff;
    const scale = (typmod - 4) & 0xffff;
    if (precision > maxDecimalPrecision || scale > precision) {
      return typeProblem(
        name,
        `numeric(${precision},${scale})`,
        `DuckDB holds ${maxDecimalPrecision} digits`,
      );
    }
    const type = `DECIMAL(${precision},${scale})`;
    return { name, engineType: type, loadSql: castTo(type) };
  }
  if (oid === 17) {
    return {
      name,
      engineType: "BLOB",
      serverSql: (c) => `encode(${c}, 'hex')`,
      loadSql: (t) => `unhex(${t})`,
    };
  }
  const element = postgresArrays.get(oid);
  if (element) {
    // Nesting depth is unknown from the metadata: one level; deeper arrays fail to cast, naming the column.
    const type = `${element}[]`;
    return {
      name,
      engineType: type,
      serverSql: (c) => `to_json(${c})::text`,
      loadSql: (t) => `CAST(CAST(${t} AS JSON) AS ${type})`,
    };
  }
  if (info?.kind === "e") return { name, engineType: "VARCHAR", loadSql: castTo("VARCHAR") };
  return typeProblem(name, info?.name ?? `type oid ${oid}`, "Sluice has no mapping for it");
}

/** mysql2's column metadata (what `FieldPacket` holds). */
export interface MysqlField {
  readonly name: string;
  readonly columnType?: number;
  readonly flags: number | string[];
  readonly characterSet?: number;
  readonly columnLength?: number;
  readonly decimals: number;
  readonly extendedTypeName?: string;
  readonly extendedFormat?: string;
}

const UNSIGNED = 32;
const BINARY_CHARSET = 63;
const mysqlIntegers: ReadonlyMap<number, readonly [string, string]> = new Map([
  [1, ["TINYINT", "UTINYINT"]],
  [2, ["SMALLINT", "USMALLINT"]],
  [9, ["INTEGER", "UINTEGER"]],
  [3, ["INTEGER", "UINTEGER"]],
  [8, ["BIGINT", "UBIGINT"]],
]);
const mysqlBlobs = new Set([249, 250, 251, 252, 253, 254, 15]);

/**
 * How a MySQL/MariaDB result column is extracted. Integers keep their sign (UNSIGNED → DuckDB's unsigned
 * types), `TINYINT(1)` (what BOOL is) becomes BOOLEAN (a value other than 0 or 1 fails the cast), DECIMAL
 * keeps its precision up to 38 digits, DATETIME is a TIMESTAMP, TIMESTAMP (stored in UTC, read with the
 * session at UTC) a TIMESTAMPTZ, JSON (MariaDB's too, from its extended metadata) JSON, MariaDB's UUID
 * a UUID, binary strings and blobs BLOB (sent as hex), BIT an unsigned integer, ENUM and SET text.
 *
 * @example
 * mysqlExtractColumn({ name: "id", columnType: 3, flags: 0, decimals: 0 }).engineType // "INTEGER"
 */
export function mysqlExtractColumn(field: MysqlField): ExtractColumn | TypeProblem {
  const { name } = field;
  const type = field.columnType ?? -1;
  const flags = typeof field.flags === "number" ? field.flags : 0;
  const unsigned = (flags & UNSIGNED) !== 0;
  const plain = (engineType: string): ExtractColumn => ({ name, engineType, loadSql: castTo(engineType) });
  const integer = mysqlIntegers.get(type);
  if (integer) {
    if (type === 1 && field.columnLength === 1 && !unsigned) return plain("BOOLEAN");
    return plain(integer[unsigned ? 1 : 0]);
  }
  if (type === 0 || type === 246) {
    const precision = (field.columnLength ?? 0) - (field.decimals > 0 ? 1 : 0) - (unsigned ? 0 : 1);
    if (precision > maxDecimalPrecision) {
      return typeProblem(
        name,
        `DECIMAL(${precision},${field.decimals})`,
        `DuckDB holds ${maxDecimalPrecision} digits`,
      );
    }
    return plain(`DECIMAL(${Math.max(precision, 1)},${field.decimals})`);
  }
  if (type === 4) return plain("FLOAT");
  if (type === 5) return plain("DOUBLE");
  if (type === 10 || type === 14) return plain("DATE");
  if (type === 12) return plain("TIMESTAMP");
  if (type === 7)
    return { name, engineType: "TIMESTAMPTZ", loadSql: (t) => `CAST(${t} || '+00' AS TIMESTAMPTZ)` };
  if (type === 11) return plain("TIME");
  if (type === 13) return plain("SMALLINT");
  if (type === 16) return plain("UBIGINT");
  if (type === 245 || field.extendedFormat === "json") return plain("JSON");
  if (field.extendedTypeName === "uuid") return plain("UUID");
  if (field.extendedTypeName)
    return typeProblem(name, field.extendedTypeName, "Sluice has no mapping for it");
  if (mysqlBlobs.has(type)) {
    if (field.characterSet === BINARY_CHARSET) {
      return { name, engineType: "BLOB", loadSql: (t) => `unhex(${t})` };
    }
    return plain("VARCHAR");
  }
  // ENUM and SET are text; a bare NULL (`SELECT NULL AS x`) has no type of its own.
  if (type === 247 || type === 248 || type === 6) return plain("VARCHAR");
  return typeProblem(name, type === 255 ? "GEOMETRY" : `type ${type}`, "Sluice has no mapping for it");
}

function typeProblem(column: string, type: string, why: string): TypeProblem {
  return {
    problem: `column ${JSON.stringify(column)} has type ${type}, which Sluice cannot carry (${why}); cast it in the source query (e.g. to text)`,
  };
}

/** Whether a mapping result is a problem. */
export function isTypeProblem(column: ExtractColumn | TypeProblem): column is TypeProblem {
  return "problem" in column;
}
