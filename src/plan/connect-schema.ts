import { quoteLiteral } from "./sql-text.js";

/**
 * Kafka Connect schemas (as the JSON converter writes them beside each event: `{ "schema", "payload" }`)
 * read for the logical types of a change event's row columns, and the DuckDB SQL that decodes their
 * values. Pure.
 */

/** Column of a change event naming which of a batch's schemas the event carries (1-based; 0: none). */
export const schemaVariantColumn = "_sluice_schema";

/** Logical types decoded, by name, with the DuckDB type they become. */
const DECODED: Readonly<Record<string, string>> = {
  "org.apache.kafka.connect.data.Decimal": "DECIMAL",
  "io.debezium.data.VariableScaleDecimal": "DECIMAL",
  "org.apache.kafka.connect.data.Date": "DATE",
  "io.debezium.time.Date": "DATE",
  "org.apache.kafka.connect.data.Time": "TIME",
  "io.debezium.time.Time": "TIME",
  "io.debezium.time.MicroTime": "TIME",
  "io.debezium.time.NanoTime": "TIME",
  "org.apache.kafka.connect.data.Timestamp": "TIMESTAMP",
  "io.debezium.time.Timestamp": "TIMESTAMP",
  "io.debezium.time.MicroTimestamp": "TIMESTAMP",
  "io.debezium.time.NanoTimestamp": "TIMESTAMP_NS",
  "io.debezium.time.ZonedTimestamp": "TIMESTAMPTZ",
  "io.debezium.time.ZonedTime": "TIMETZ",
  "io.debezium.time.MicroDuration": "INTERVAL",
  "io.debezium.data.Json": "JSON",
  "io.debezium.data.Uuid": "UUID",
  bytes: "BLOB",
};

/** Logical types whose values are already what they mean (text, or a plain number): loaded as sent. */
const AS_SENT: ReadonlySet<string> = new Set([
  "io.debezium.time.Year",
  "io.debezium.data.Enum",
  "io.debezium.data.EnumSet",
  "io.debezium.data.Xml",
  "io.debezium.data.Ltree",
]);

/** How one column of one schema is typed. */
type FieldKind =
  | { readonly kind: "plain"; readonly type: string }
  | { readonly kind: "decode"; readonly name: string; readonly decimal?: DecimalShape }
  | { readonly kind: "unsupported"; readonly name: string };

/** A DECIMAL's precision and scale. */
export interface DecimalShape {
  readonly precision: number;
  readonly scale: number;
}

/** One column whose values a batch's schemas say are encoded, and how to decode them. */
export interface ColumnDecoder {
  readonly column: string;
  /** The logical type's name (`bytes` for Kafka Connect's unnamed bytes). */
  readonly logicalType: string;
  /** `org.apache.kafka.connect.data.Decimal`: shape per schema variant (1-based), and the column's type. */
  readonly decimal?: { readonly byVariant: ReadonlyMap<number, DecimalShape>; readonly type: DecimalShape };
}

/** What a batch's schemas say about its row columns. */
export interface DecodePlan {
  readonly decoders: readonly ColumnDecoder[];
  /** Some decoder differs by schema: events need {@link schemaVariantColumn}. */
  readonly byVariant: boolean;
  /** Columns that cannot be decoded, one sentence each (unsupported or disagreeing types). */
  readonly problems: readonly string[];
}

type Schema = { readonly [key: string]: unknown };
const isObject = (v: unknown): v is Schema => v !== null && typeof v === "object" && !Array.isArray(v);
const fieldsOf = (s: unknown): Schema[] =>
  isObject(s) && Array.isArray(s.fields) ? s.fields.filter(isObject) : [];

/**
 * The row columns of one event schema with their Kafka Connect schemas: the fields of `after` and
 * `before` for Debezium envelopes, the top-level fields for flat events.
 */
function rowFields(schema: unknown, format: "debezium" | "flat"): Map<string, Schema> {
  const fields = new Map<string, Schema>();
  const top = fieldsOf(schema);
  const images =
    format === "flat"
      ? [top]
      : ["after", "before"].map((image) => fieldsOf(top.find((f) => f.field === image)));
  for (const list of images) {
    for (const f of list) {
      if (typeof f.field === "string" && !fields.has(f.field)) fields.set(f.field, f);
    }
  }
  return fields;
}

/** The encoded or unsupported logical type inside a nested schema, if any. */
function nestedEncoding(s: Schema): string | undefined {
  const parts = [s.items, s.keys, s.values, ...fieldsOf(s)].filter(isObject);
  for (const part of parts) {
    const kind = classify(part);
    if (kind.kind !== "plain") return kind.name;
  }
  return undefined;
}

function classify(s: Schema): FieldKind {
  const type = String(s.type ?? "");
  const name = typeof s.name === "string" ? s.name : undefined;
  if (name !== undefined && AS_SENT.has(name)) return { kind: "plain", type };
  if (name === "org.apache.kafka.connect.data.Decimal") return decimalKind(s, name);
  if (name !== undefined && name in DECODED) return { kind: "decode", name };
  // Any other name is a logical type (geometries, bits, ...) whose values would load as sent.
  if (name !== undefined) return { kind: "unsupported", name };
  if (type === "bytes") return { kind: "decode", name: "bytes" };
  const inner = ["array", "map", "struct"].includes(type) ? nestedEncoding(s) : undefined;
  return inner === undefined
    ? { kind: "plain", type }
    : { kind: "unsupported", name: `${type} holding ${inner}` };
}

function decimalKind(s: Schema, name: string): FieldKind {
  const parameters = isObject(s.parameters) ? s.parameters : {};
  const scale = Number(parameters.scale);
  const declared = Number(parameters["connect.decimal.precision"]);
  if (!Number.isInteger(scale) || scale < 0 || scale > 38) {
    return { kind: "unsupported", name: `${name} with scale ${String(parameters.scale)}` };
  }
  // Wider than DuckDB's DECIMAL(38): values that fit load; the others fail the load, named.
  const precision = Number.isInteger(declared) && declared >= scale && declared > 0 ? declared : 38;
  return { kind: "decode", name, decimal: { precision: Math.min(precision, 38), scale } };
}

/** One DECIMAL type holding every shape exactly (capped at DECIMAL(38)). */
function widestDecimal(shapes: readonly DecimalShape[]): DecimalShape {
  const scale = Math.max(...shapes.map((s) => s.scale));
  const digits = Math.max(...shapes.map((s) => s.precision - s.scale));
  return { precision: Math.min(38, digits + scale), scale };
}

/**
 * Reads the logical types of a batch's row columns from its distinct event schemas (parsed JSON, in
 * the order of their variant numbers 1, 2, ...). `schemaless`: some events carry no schema. Columns of a
 * type Sluice does not decode, or typed differently by two schemas (other than a DECIMAL's precision
 * and scale), are problems. Pure.
 *
 * @example
 * decodePlan([{ type: "struct", fields: [{ field: "after", fields: [{ field: "d", type: "int32", name: "io.debezium.time.Date" }] }] }], "debezium", false)
 * // { decoders: [{ column: "d", logicalType: "io.debezium.time.Date" }], byVariant: false, problems: [] }
 */
export function decodePlan(
  schemas: readonly unknown[],
  format: "debezium" | "flat",
  schemaless: boolean,
): DecodePlan {
  const perSchema = schemas.map((s) => rowFields(s, format));
  const columns = [...new Set(perSchema.flatMap((fields) => [...fields.keys()]))];
  const decoders: ColumnDecoder[] = [];
  const problems: string[] = [];
  for (const column of columns) {
    const kinds = perSchema.map((fields) => {
      const f = fields.get(column);
      return f === undefined ? undefined : classify(f);
    });
    const unsupported = kinds.find((k) => k?.kind === "unsupported");
    if (unsupported?.kind === "unsupported") {
      problems.push(
        `column "${column}" is ${unsupported.name} in the events' schema, a type Sluice does not decode`,
      );
      continue;
    }
    const decoded = kinds.filter((k) => k?.kind === "decode");
    if (decoded.length === 0) continue;
    const names = [
      ...new Set(kinds.filter((k) => k !== undefined).map((k) => (k.kind === "plain" ? k.type : k.name))),
    ];
    if (names.length > 1 || schemaless) {
      const seen = schemaless ? [...names, "no schema"] : names;
      problems.push(
        `column "${column}" has different types in the events' schemas (${seen.join(", ")}); load the events before and after the change in separate runs`,
      );
      continue;
    }
    const first = decoded[0]!;
    if (first.kind !== "decode") continue;
    const decoder: ColumnDecoder = { column, logicalType: first.name };
    if (first.decimal) {
      const byVariant = new Map<number, DecimalShape>();
      kinds.forEach((k, i) => {
        if (k?.kind === "decode" && k.decimal) byVariant.set(i + 1, k.decimal);
      });
      decoders.push({ ...decoder, decimal: { byVariant, type: widestDecimal([...byVariant.values()]) } });
    } else {
      decoders.push(decoder);
    }
  }
  const byVariant = decoders.some(
    (d) => new Set([...(d.decimal?.byVariant.values() ?? [])].map((s) => s.scale)).size > 1,
  );
  return { decoders, byVariant, problems };
}

const TWO_POW_64 = "18446744073709551616::HUGEINT";

/**
 * The integer a base64 two's-complement big-endian value holds (Kafka Connect's Decimal and Debezium's
 * VariableScaleDecimal), as HUGEINT; NULL beyond 16 bytes (more than DECIMAL(38) holds). The value
 * sign-extended to 32 hex digits is read as its high and low 64 bits.
 */
function unscaledSql(base64: string): string {
  const hex = `hex(from_base64(${base64}))`;
  const negative = `(${hex} >= '8')`;
  const padded = `lpad(${hex}, 32, CASE WHEN ${negative} THEN 'F' ELSE '0' END)`;
  const high = `CAST(CAST('0x' || left(${padded}, 16) AS UBIGINT) AS HUGEINT)`;
  const low = `CAST('0x' || right(${padded}, 16) AS UBIGINT)`;
  return `CASE WHEN length(${hex}) <= 32 THEN (${high} - CASE WHEN ${negative} THEN ${TWO_POW_64} ELSE 0 END) * ${TWO_POW_64} + ${low} END`;
}

/** The digits of an integer with the decimal point `scale` places from the right, cast to `type`. */
function scaledSql(unscaled: string, scale: string, type: string): string {
  const text = `CAST(${unscaled} AS VARCHAR)`;
  const digits = `ltrim(${text}, '-')`;
  const padded = `repeat('0', greatest(0, ${scale} + 1 - length(${digits}))) || ${digits}`;
  const sign = `CASE WHEN starts_with(${text}, '-') THEN '-' ELSE '' END`;
  return `CAST(${sign} || left(${padded}, length(${padded}) - ${scale}) || '.' || right(${padded}, ${scale}) AS ${type})`;
}

/** A time of day from microseconds past midnight; NULL outside 00:00 to 24:00. */
function timeOfDaySql(micros: string): string {
  return `CASE WHEN ${micros} = 86400000000 THEN TIME '24:00:00' WHEN ${micros} >= 0 AND ${micros} < 86400000000 THEN TIME '00:00:00' + to_microseconds(${micros}) END`;
}

const decimalType = (d: DecimalShape) => `DECIMAL(${d.precision},${d.scale})`;

/** DuckDB SQL of the scale of a Decimal column's events: a number, or one per schema variant. */
function decimalScaleSql(decoder: ColumnDecoder): string {
  const shapes = [...(decoder.decimal?.byVariant ?? new Map<number, DecimalShape>())];
  const scales = new Set(shapes.map(([, s]) => s.scale));
  if (scales.size <= 1) return String(shapes[0]?.[1].scale ?? 0);
  return `CASE ${schemaVariantColumn} ${shapes.map(([v, s]) => `WHEN ${v} THEN ${s.scale}`).join(" ")} END`;
}

/**
 * The DuckDB type a decoder's values become. `variable`: the shape measured for a VariableScaleDecimal
 * column (see {@link variableScaleSql}). Pure.
 */
export function decodedType(decoder: ColumnDecoder, variable?: DecimalShape): string {
  if (decoder.decimal) return decimalType(decoder.decimal.type);
  if (decoder.logicalType === "io.debezium.data.VariableScaleDecimal") {
    return decimalType(variable ?? { precision: 38, scale: 0 });
  }
  return DECODED[decoder.logicalType] ?? "VARCHAR";
}

/** VariableScaleDecimal's fields (a JSON object `{ "scale": 2, "value": "<base64>" }`) from its text. */
const variableParts = (raw: string) => ({
  scale: `CAST(json_extract_string(${raw}, '$.scale') AS INTEGER)`,
  value: `json_extract_string(${raw}, '$.value')`,
});

/**
 * DuckDB aggregates measuring a VariableScaleDecimal column from its raw text `raw`: `scale` (the
 * largest) and `digits` (the most digits left of the point). Pure.
 */
export function variableScaleSql(raw: string): { readonly scale: string; readonly digits: string } {
  const parts = variableParts(raw);
  const length = `length(ltrim(CAST(try(${unscaledSql(parts.value)}) AS VARCHAR), '-'))`;
  return {
    scale: `max(try(${parts.scale}))`,
    digits: `max(greatest(1, ${length} - try(${parts.scale})))`,
  };
}

/**
 * DuckDB SQL decoding one value of a column, from its raw text `raw` (the JSON value as text: a number's
 * digits, a string's content, an object's JSON); NULL when the value does not decode (the caller checks
 * that no value was lost). `variable`: the measured shape of a VariableScaleDecimal column. Pure.
 *
 * @example
 * decodeSql({ column: "d", logicalType: "io.debezium.time.Date" }, '"d"') // try(CAST(DATE '1970-01-01' + ...))
 */
export function decodeSql(decoder: ColumnDecoder, raw: string, variable?: DecimalShape): string {
  const int = `CAST(${raw} AS BIGINT)`;
  const type = decodedType(decoder, variable);
  const expression = (): string => {
    switch (decoder.logicalType) {
      case "org.apache.kafka.connect.data.Decimal":
        return scaledSql(unscaledSql(raw), decimalScaleSql(decoder), type);
      case "io.debezium.data.VariableScaleDecimal": {
        const parts = variableParts(raw);
        return `CASE WHEN ${parts.scale} >= 0 THEN ${scaledSql(unscaledSql(parts.value), parts.scale, type)} END`;
      }
      case "org.apache.kafka.connect.data.Date":
      case "io.debezium.time.Date":
        return `CAST(DATE '1970-01-01' + CAST(${raw} AS INTEGER) AS DATE)`;
      case "org.apache.kafka.connect.data.Time":
      case "io.debezium.time.Time":
        return timeOfDaySql(`(${int} * 1000)`);
      case "io.debezium.time.MicroTime":
        return timeOfDaySql(int);
      case "io.debezium.time.NanoTime":
        // TIME holds microseconds (in DuckDB and PostgreSQL): nanoseconds beyond are dropped.
        return timeOfDaySql(`(${int} // 1000)`);
      case "org.apache.kafka.connect.data.Timestamp":
      case "io.debezium.time.Timestamp":
        return `make_timestamp(${int} * 1000)`;
      case "io.debezium.time.MicroTimestamp":
        return `make_timestamp(${int})`;
      case "io.debezium.time.NanoTimestamp":
        return `make_timestamp_ns(${int})`;
      case "io.debezium.time.ZonedTimestamp":
        return `CAST(${raw} AS TIMESTAMPTZ)`;
      case "io.debezium.time.ZonedTime":
        return `CAST(regexp_replace(${raw}, 'Z$', '+00') AS TIMETZ)`;
      case "io.debezium.time.MicroDuration":
        return `to_microseconds(${int})`;
      case "io.debezium.data.Json":
        return `json(${raw})`;
      case "io.debezium.data.Uuid":
        return `CAST(${raw} AS UUID)`;
      case "bytes":
        return `from_base64(${raw})`;
      default:
        throw new Error(`no decoding for ${decoder.logicalType}`);
    }
  };
  return `try(${expression()})`;
}

/**
 * Whether a decoded value is written into a JSON row image as its decoded form. Text that already
 * reads as what it means stays as sent there: ISO timestamps with their zone (DuckDB would print them in
 * the session's zone), UUIDs, and bytes (base64 is JSON's usual spelling of bytes). Pure.
 */
export function decodedInJson(decoder: ColumnDecoder): boolean {
  return ![
    "io.debezium.time.ZonedTimestamp",
    "io.debezium.time.ZonedTime",
    "io.debezium.data.Uuid",
    "bytes",
  ].includes(decoder.logicalType);
}

/**
 * DuckDB SQL naming which of `schemas` (their JSON text, variant 1, 2, ...) an event's schema text is;
 * 0 for none. Pure.
 */
export function schemaVariantSql(schemaText: string, schemas: readonly string[]): string {
  return `coalesce(list_position([${schemas.map(quoteLiteral).join(", ")}], ${schemaText}), 0)`;
}
