/** A column type reduced to what matters for schema evolution. */
export interface CanonicalType {
  readonly family:
    | "bool"
    | "int"
    | "float"
    | "decimal"
    | "string"
    | "date"
    | "timestamp"
    | "timestamptz"
    | "time"
    | "blob"
    | "json"
    | "uuid"
    | "interval"
    | "nested"
    | "other";
  /** int: 1 small, 2 integer, 3 bigint; float: 1 real, 2 double. */
  readonly rank: number;
  /** varchar(n): n; unbounded strings have none. */
  readonly length?: number | undefined;
  readonly precision?: number | undefined;
  readonly scale?: number | undefined;
  /** The type as written (for messages and nested types). */
  readonly text: string;
}

/**
 * Reads a DuckDB or PostgreSQL type name into its canonical form. Pure.
 *
 * @example
 * canonicalType("character varying(20)") // { family: "string", length: 20, ... }
 */
export function canonicalType(type: string): CanonicalType {
  const text = type.trim();
  const t = text.toUpperCase();
  const make = (family: CanonicalType["family"], rank = 0, extra: Partial<CanonicalType> = {}) => ({
    family,
    rank,
    text,
    ...extra,
  });
  if (/\[\]$|^STRUCT|^MAP|^UNION|^ARRAY|^LIST/.test(t)) return make("nested");
  if (t === "BOOLEAN" || t === "BOOL") return make("bool");
  if (["TINYINT", "SMALLINT", "INT2", "UTINYINT", "INT1"].includes(t)) return make("int", 1);
  if (["INTEGER", "INT", "INT4", "USMALLINT"].includes(t)) return make("int", 2);
  if (["BIGINT", "INT8", "UINTEGER"].includes(t)) return make("int", 3);
  if (["HUGEINT", "UBIGINT", "UHUGEINT"].includes(t)) return make("decimal", 0, { precision: 38, scale: 0 });
  if (["REAL", "FLOAT", "FLOAT4"].includes(t)) return make("float", 1);
  if (["DOUBLE", "DOUBLE PRECISION", "FLOAT8"].includes(t)) return make("float", 2);
  const decimal = /^(DECIMAL|NUMERIC)(?:\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?$/.exec(t);
  if (decimal) {
    return make("decimal", 0, {
      precision: decimal[2] ? Number(decimal[2]) : 38,
      scale: decimal[3] ? Number(decimal[3]) : decimal[2] ? 0 : 10,
    });
  }
  const varchar =
    /^(VARCHAR|CHARACTER VARYING|CHAR|CHARACTER|BPCHAR|TEXT|STRING)(?:\s*\(\s*(\d+)\s*\))?$/.exec(t);
  if (varchar) return make("string", 0, { length: varchar[2] ? Number(varchar[2]) : undefined });
  if (t === "DATE") return make("date");
  if (/^TIMESTAMP( WITHOUT TIME ZONE)?(\(\d\))?$|^TIMESTAMP_(NS|MS|S)$|^DATETIME$/.test(t))
    return make("timestamp");
  if (/^TIMESTAMP(\(\d\))? WITH TIME ZONE$|^TIMESTAMPTZ$/.test(t)) return make("timestamptz");
  if (/^TIME( WITHOUT TIME ZONE)?$|^TIME WITH TIME ZONE$|^TIMETZ$/.test(t)) return make("time");
  if (t === "BLOB" || t === "BYTEA") return make("blob");
  if (t === "JSON" || t === "JSONB") return make("json");
  if (t === "UUID") return make("uuid");
  if (t === "INTERVAL") return make("interval");
  return make("other");
}

/** How an incoming column type relates to the existing one. */
export type TypeChange =
  /** Same type: nothing to do. */
  | { readonly kind: "same" }
  /** The incoming values fit the existing column as it is. */
  | { readonly kind: "fits" }
  /** The existing column must widen to `to` (canonical, rendered by the dialect's `ddlType`). */
  | { readonly kind: "widen"; readonly to: CanonicalType }
  /** Incoming text for a typed column: fits only if every value converts (checked against the data). */
  | { readonly kind: "check" }
  /** Not safely convertible (narrowing, or a different kind of value). */
  | { readonly kind: "incompatible" };

const intDigits = [0, 5, 10, 19];

/**
 * Classifies a type change of one column from the existing type to the incoming one. Pure.
 * Safe widenings: int→bigint, int→double, int→decimal, decimal→wider decimal, varchar(n)→longer,
 * date→timestamp, real→double.
 *
 * @example
 * typeChange("INTEGER", "BIGINT") // { kind: "widen", to: { family: "int", rank: 3, ... } }
 * typeChange("VARCHAR", "INTEGER") // { kind: "incompatible" }
 */
export function typeChange(existing: string, incoming: string): TypeChange {
  const a = canonicalType(existing);
  const b = canonicalType(incoming);
  if (a.family === b.family) {
    switch (a.family) {
      case "int":
      case "float":
        return b.rank === a.rank
          ? { kind: "same" }
          : b.rank < a.rank
            ? { kind: "fits" }
            : { kind: "widen", to: b };
      case "string":
        if (a.length === undefined) return b.length === undefined ? { kind: "same" } : { kind: "fits" };
        if (b.length === undefined || b.length > a.length) return { kind: "widen", to: b };
        return b.length === a.length ? { kind: "same" } : { kind: "fits" };
      case "decimal": {
        const [ap, as, bp, bs] = [a.precision ?? 38, a.scale ?? 0, b.precision ?? 38, b.scale ?? 0];
        if (ap === bp && as === bs) return { kind: "same" };
        if (ap - as >= bp - bs && as >= bs) return { kind: "fits" };
        const scale = Math.max(as, bs);
        const precision = Math.max(ap - as, bp - bs) + scale;
        return precision <= 38
          ? {
              kind: "widen",
              to: { family: "decimal", rank: 0, precision, scale, text: `DECIMAL(${precision},${scale})` },
            }
          : { kind: "widen", to: canonicalType("DOUBLE") };
      }
      case "nested":
      case "other":
        return a.text.toUpperCase() === b.text.toUpperCase() ? { kind: "same" } : { kind: "incompatible" };
      default:
        return { kind: "same" };
    }
  }
  if (b.family === "string") return a.family === "json" ? { kind: "fits" } : { kind: "check" };
  if (a.family === "int" && b.family === "float") return { kind: "widen", to: canonicalType("DOUBLE") };
  if (a.family === "float" && b.family === "int") return { kind: "fits" };
  if (a.family === "float" && b.family === "decimal") return { kind: "fits" };
  if (a.family === "decimal" && b.family === "float") return { kind: "widen", to: canonicalType("DOUBLE") };
  if (a.family === "int" && b.family === "decimal") {
    const scale = b.scale ?? 0;
    const precision = Math.min(38, Math.max(intDigits[a.rank]! + scale, b.precision ?? 38));
    return {
      kind: "widen",
      to: { family: "decimal", rank: 0, precision, scale, text: `DECIMAL(${precision},${scale})` },
    };
  }
  if (a.family === "decimal" && b.family === "int") {
    const room = (a.precision ?? 38) - (a.scale ?? 0);
    if (room >= intDigits[b.rank]!) return { kind: "fits" };
    const precision = Math.min(38, intDigits[b.rank]! + (a.scale ?? 0));
    return {
      kind: "widen",
      to: {
        family: "decimal",
        rank: 0,
        precision,
        scale: a.scale ?? 0,
        text: `DECIMAL(${precision},${a.scale ?? 0})`,
      },
    };
  }
  if (a.family === "date" && (b.family === "timestamp" || b.family === "timestamptz"))
    return { kind: "widen", to: b };
  if ((a.family === "timestamp" || a.family === "timestamptz") && b.family === "date")
    return { kind: "fits" };
  if (a.family === "timestamp" && b.family === "timestamptz") return { kind: "widen", to: b };
  if (a.family === "timestamptz" && b.family === "timestamp") return { kind: "fits" };
  if (a.family === "json") return { kind: "fits" };
  return { kind: "incompatible" };
}

/**
 * The DuckDB DDL spelling of a type (a PostgreSQL type maps to its DuckDB equivalent). Pure.
 *
 * @example
 * duckdbDdlType("bytea") // "BLOB"
 */
export function duckdbDdlType(type: string | CanonicalType): string {
  const c = typeof type === "string" ? canonicalType(type) : type;
  switch (c.family) {
    case "int":
      return ["", "SMALLINT", "INTEGER", "BIGINT"][c.rank]!;
    case "float":
      return c.rank === 1 ? "FLOAT" : "DOUBLE";
    case "decimal":
      return `DECIMAL(${c.precision ?? 38},${c.scale ?? 0})`;
    case "string":
      return "VARCHAR";
    case "timestamptz":
      return "TIMESTAMPTZ";
    case "timestamp":
      return "TIMESTAMP";
    case "json":
      return "JSON";
    case "blob":
      return "BLOB";
    case "bool":
      return "BOOLEAN";
    default:
      return pgToDuck(c.text);
  }
}

/**
 * The PostgreSQL DDL spelling of a type (DuckDB types map to their PostgreSQL equivalents; nested values
 * become jsonb). Pure.
 *
 * @example
 * postgresDdlType("DOUBLE") // "double precision"
 */
export function postgresDdlType(type: string | CanonicalType): string {
  const c = typeof type === "string" ? canonicalType(type) : type;
  switch (c.family) {
    case "bool":
      return "boolean";
    case "int":
      return ["", "smallint", "integer", "bigint"][c.rank]!;
    case "float":
      return c.rank === 1 ? "real" : "double precision";
    case "decimal":
      return `numeric(${c.precision ?? 38},${c.scale ?? 0})`;
    case "string":
      return c.length === undefined ? "text" : `varchar(${c.length})`;
    case "date":
      return "date";
    case "timestamp":
      return "timestamp";
    case "timestamptz":
      return "timestamptz";
    case "time":
      return "time";
    case "blob":
      return "bytea";
    case "json":
    case "nested":
      return "jsonb";
    case "uuid":
      return "uuid";
    case "interval":
      return "interval";
    default:
      return "text";
  }
}

function pgToDuck(text: string): string {
  const t = text.toUpperCase();
  if (t === "BYTEA") return "BLOB";
  if (t === "JSONB") return "JSON";
  if (t.startsWith("TIME")) return "TIME";
  return text;
}

/**
 * The DuckDB expression that renders a column for a CSV bound for PostgreSQL `COPY ... (FORMAT csv)`:
 * nested values as JSON text, blobs in bytea hex form, everything else as DuckDB writes it. Pure.
 *
 * @example
 * csvExportExpression('"tags"', "VARCHAR[]") // 'to_json("tags")::VARCHAR'
 */
export function csvExportExpression(quotedColumn: string, duckType: string): string {
  const c = canonicalType(duckType);
  if (c.family === "nested") return `to_json(${quotedColumn})::VARCHAR`;
  if (c.family === "blob")
    return `CASE WHEN ${quotedColumn} IS NULL THEN NULL ELSE '\\x' || hex(${quotedColumn}) END`;
  if (c.family === "bool") return `CASE WHEN ${quotedColumn} THEN 't' WHEN NOT ${quotedColumn} THEN 'f' END`;
  return quotedColumn;
}
