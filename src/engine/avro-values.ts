/**
 * Avro values as JSON text, compiled once per schema from the schema itself (logical types included),
 * and the DuckDB type each top-level field lands as. Values come from avsc decoding with unions wrapped
 * (`{branch: value}`) and longs as BigInt, so nothing is guessed and no long loses precision.
 */

/** Writes one decoded value as JSON text. */
export type AvroJsonWriter = (value: unknown) => string;

/** A top-level field of a record schema: its name, the DuckDB type it lands as, and its writers. */
export interface AvroField {
  readonly name: string;
  /** Undefined: nested or mixed (a record, array, map or a union of several types), written as JSON. */
  readonly type: string | undefined;
  readonly write: AvroJsonWriter;
  /**
   * The value as one CSV field DuckDB reads as `type` (JSON text where `type` is undefined): null is
   * empty and unquoted, an empty string `""`.
   */
  readonly csv: AvroJsonWriter;
}

interface Compiled {
  readonly write: AvroJsonWriter;
  /** See {@link AvroField.csv}. */
  readonly csv: AvroJsonWriter;
  /** The DuckDB type of a column holding this value; undefined: left to the JSON reader (nested values). */
  readonly type: string | undefined;
  /** The name avsc gives a union branch of this type. */
  readonly branch: string;
}

type Schema = string | Schema[] | { readonly [key: string]: unknown };

const DAY_MS = 86_400_000;

/**
 * The writer of a record schema and the DuckDB type of each of its fields.
 *
 * @example
 * const { write, fields } = compileAvroRecord(JSON.parse(header["avro.schema"]));
 */
export function compileAvroRecord(schema: Schema): {
  write: AvroJsonWriter;
  fields: AvroField[];
} {
  const named = new Map<string, Compiled>();
  if (typeof schema !== "object" || Array.isArray(schema) || schema.type !== "record") {
    throw new Error("its schema is not a record: Avro files Sluice reads hold one record per row");
  }
  const compiled = compileRecord(schema, named, undefined);
  return { write: compiled.write, fields: compiled.fields };
}

function namespaceOf(
  schema: { readonly [key: string]: unknown },
  outer: string | undefined,
): string | undefined {
  const name = String(schema.name ?? "");
  if (name.includes(".")) return name.slice(0, name.lastIndexOf("."));
  return typeof schema.namespace === "string" ? schema.namespace : outer;
}

function fullName(name: string, namespace: string | undefined): string {
  return name.includes(".") || !namespace ? name : `${namespace}.${name}`;
}

function compile(schema: Schema, named: Map<string, Compiled>, namespace: string | undefined): Compiled {
  if (typeof schema === "string") {
    const primitive = primitives[schema];
    if (primitive) return primitive;
    const found = named.get(fullName(schema, namespace)) ?? named.get(schema);
    if (!found) throw new Error(`unknown Avro type ${schema}`);
    return found;
  }
  if (Array.isArray(schema)) return compileUnion(schema, named, namespace);
  const type = schema.type as Schema;
  const logical = typeof schema.logicalType === "string" ? compileLogical(schema) : undefined;
  if (logical) return logical;
  switch (type) {
    case "record":
    case "error":
      return compileRecord(schema, named, namespace);
    case "enum":
    case "fixed": {
      const branch = fullName(String(schema.name), namespace);
      const compiled = type === "enum" ? { ...primitives.string!, branch } : { ...primitives.bytes!, branch };
      named.set(branch, compiled);
      return compiled;
    }
    case "array": {
      const items = compile(schema.items as Schema, named, namespace).write;
      const write: AvroJsonWriter = (v) => `[${(v as unknown[]).map(items).join(",")}]`;
      return { write, csv: jsonCsv(write), type: undefined, branch: "array" };
    }
    case "map": {
      const values = compile(schema.values as Schema, named, namespace).write;
      const write: AvroJsonWriter = (v) =>
        `{${Object.entries(v as Record<string, unknown>)
          .map(([k, x]) => `${JSON.stringify(k)}:${values(x)}`)
          .join(",")}}`;
      return { write, csv: jsonCsv(write), type: undefined, branch: "map" };
    }
    default:
      return compile(type, named, namespace);
  }
}

function compileRecord(
  schema: { readonly [key: string]: unknown },
  named: Map<string, Compiled>,
  outer: string | undefined,
): Compiled & { fields: AvroField[] } {
  const branch = fullName(String(schema.name), outer);
  const namespace = namespaceOf(schema, outer);
  const fields: { key: string; name: string; write: AvroJsonWriter; type: string | undefined }[] = [];
  const write = (v: unknown) => {
    const record = v as Record<string, unknown>;
    let out = "{";
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      out += `${i === 0 ? "" : ","}${f.key}:${f.write(record[f.name])}`;
    }
    return `${out}}`;
  };
  const compiled = {
    write,
    csv: jsonCsv(write),
    type: undefined,
    branch,
    fields: [] as AvroField[],
  };
  // Registered before its fields: a record may refer to itself (a tree).
  named.set(branch, compiled);
  for (const f of schema.fields as { name: string; type: Schema }[]) {
    const field = compile(f.type, named, namespace);
    fields.push({ key: JSON.stringify(f.name), name: f.name, write: field.write, type: field.type });
    // Nested and mixed values are JSON text: their column is JSON.
    compiled.fields.push({ name: f.name, type: field.type, write: field.write, csv: field.csv });
  }
  return compiled;
}

/** A union with null is the other type, nullable; other unions hold mixed values (left to the JSON reader). */
function compileUnion(
  branches: Schema[],
  named: Map<string, Compiled>,
  namespace: string | undefined,
): Compiled {
  const compiled = branches.map((b) => compile(b, named, namespace));
  const byName = new Map(compiled.map((c) => [c.branch, c]));
  const others = compiled.filter((c) => c.branch !== "null");
  const branchOf = (v: unknown): [Compiled, unknown] => {
    const [name, inner] = Object.entries(v as Record<string, unknown>)[0]!;
    const branch = byName.get(name);
    if (!branch) throw new Error(`union value of unknown branch ${name}`);
    return [branch, inner];
  };
  const write: AvroJsonWriter = (v) => {
    if (v === null || v === undefined) return "null";
    const [branch, inner] = branchOf(v);
    return branch.write(inner);
  };
  const type = others.length === 1 ? others[0]!.type : undefined;
  const single = others.length === 1 && type !== undefined;
  return {
    write,
    // A nullable type is written as that type; a mixed union as JSON (its column is JSON).
    csv: single
      ? (v) => {
          if (v === null || v === undefined) return "";
          const [branch, inner] = branchOf(v);
          return branch.csv(inner);
        }
      : (v) => (v === null || v === undefined ? "" : quoteCsv(write(v))),
    type,
    branch: "union",
  };
}

function compileLogical(schema: { readonly [key: string]: unknown }): Compiled | undefined {
  const base = schema.type;
  const branch =
    typeof base === "string" && base !== "fixed" ? base : fullName(String(schema.name), undefined);
  switch (schema.logicalType) {
    case "decimal": {
      const precision = Number(schema.precision);
      const scale = Number(schema.scale ?? 0);
      // DuckDB's DECIMAL holds 38 digits: wider ones stay exact as text.
      const type = precision >= 1 && precision <= 38 ? `DECIMAL(${precision},${scale})` : "VARCHAR";
      const write: AvroJsonWriter = (v) => `"${decimalText(v as Buffer, scale)}"`;
      return { write, csv: write, type, branch };
    }
    case "date": {
      if (base !== "int") return undefined;
      const write: AvroJsonWriter = (v) => `"${dateText(v as number)}"`;
      return { write, csv: write, type: "DATE", branch };
    }
    case "timestamp-millis":
    case "timestamp-micros":
    case "local-timestamp-millis":
    case "local-timestamp-micros": {
      if (base !== "long") return undefined;
      const micros = String(schema.logicalType).endsWith("micros");
      const local = String(schema.logicalType).startsWith("local");
      const write: AvroJsonWriter = (v) =>
        `"${timestampText(v as bigint | number, micros)}${local ? "" : "Z"}"`;
      return { write, csv: write, type: local ? "TIMESTAMP" : "TIMESTAMPTZ", branch };
    }
    case "time-millis":
    case "time-micros": {
      const micros = schema.logicalType === "time-micros";
      const write: AvroJsonWriter = (v) => `"${timeText(BigInt(v as number | bigint), micros)}"`;
      return { write, csv: write, type: "TIME", branch };
    }
    case "uuid":
      if (base !== "string") return undefined;
      return { write: (v) => JSON.stringify(v), csv: (v) => quoteCsv(v as string), type: "UUID", branch };
    default:
      // Unknown logical types read as their underlying type (Avro's rule).
      return undefined;
  }
}

function number(v: unknown): string {
  const n = v as number;
  // JSON has no NaN or infinities: as text, which DuckDB casts back to FLOAT/DOUBLE.
  return Number.isFinite(n) ? String(n) : `"${String(n)}"`;
}

/** A CSV field holding `text` as it is (quoted: commas, quotes and line breaks stay inside the value). */
function quoteCsv(text: string): string {
  return text.includes('"') ? `"${text.replaceAll('"', '""')}"` : `"${text}"`;
}

/** A nested value's CSV field: its JSON text, quoted. */
function jsonCsv(write: AvroJsonWriter): AvroJsonWriter {
  return (v) => quoteCsv(write(v));
}

const toText = (v: unknown) => String(v);
const bytesText: AvroJsonWriter = (v) => `"${(v as Buffer).toString("base64")}"`;

// A number's and a boolean's JSON text is a CSV field as it is; so is a string without quotes inside.
const primitives: Record<string, Compiled> = {
  null: { write: () => "null", csv: () => "", type: undefined, branch: "null" },
  boolean: {
    write: (v) => (v ? "true" : "false"),
    csv: (v) => (v ? "true" : "false"),
    type: "BOOLEAN",
    branch: "boolean",
  },
  int: { write: toText, csv: toText, type: "INTEGER", branch: "int" },
  long: { write: toText, csv: toText, type: "BIGINT", branch: "long" },
  float: { write: number, csv: number, type: "FLOAT", branch: "float" },
  double: { write: number, csv: number, type: "DOUBLE", branch: "double" },
  string: {
    write: (v) => JSON.stringify(v),
    csv: (v) => quoteCsv(v as string),
    type: "VARCHAR",
    branch: "string",
  },
  // Bytes land as base64 text (JSON carries no binary).
  bytes: { write: bytesText, csv: bytesText, type: "VARCHAR", branch: "bytes" },
};

/** A two's-complement big-endian unscaled value as decimal text. */
function decimalText(bytes: Buffer, scale: number): string {
  let n: number | bigint;
  if (bytes.length <= 6) {
    // Up to 48 bits: exact as a Number, without a BigInt per value.
    n = bytes.length === 0 ? 0 : bytes.readIntBE(0, bytes.length);
  } else {
    let big = 0n;
    for (const b of bytes) big = (big << 8n) | BigInt(b);
    if ((bytes[0]! & 0x80) !== 0) big -= 1n << BigInt(bytes.length * 8);
    n = big;
  }
  const negative = n < 0;
  const digits = String(negative ? -n : n).padStart(scale + 1, "0");
  const text = scale > 0 ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return negative ? `-${text}` : text;
}

function dateText(days: number): string {
  return dayText(days);
}

/**
 * Days since the epoch as `YYYY-MM-DD`, remembered: a file's dates and timestamps fall on few days, and
 * formatting a Date is most of the cost of writing one.
 */
const days = new Map<number, string>();
function dayText(day: number): string {
  let text = days.get(day);
  if (text === undefined) {
    const iso = isoDate(new Date(day * DAY_MS));
    text = iso.slice(0, iso.indexOf("T"));
    if (days.size >= 100_000) days.clear();
    days.set(day, text);
  }
  return text;
}

const two = (n: number) => (n < 10 ? `0${n}` : String(n));

/** Milliseconds or microseconds since the epoch as ISO text with all their digits, no zone. */
function timestampText(value: bigint | number, micros: boolean): string {
  const perSecond = micros ? 1_000_000 : 1000;
  const n = Number(value);
  if (!Number.isSafeInteger(n)) return bigTimestampText(BigInt(value), micros);
  const seconds = Math.floor(n / perSecond);
  const fraction = n - seconds * perSecond;
  const day = Math.floor(seconds / 86_400);
  const second = seconds - day * 86_400;
  const time = `${two(Math.floor(second / 3600))}:${two(Math.floor(second / 60) % 60)}:${two(second % 60)}`;
  return `${dayText(day)}T${time}.${String(fraction).padStart(micros ? 6 : 3, "0")}`;
}

function bigTimestampText(value: bigint, micros: boolean): string {
  const perSecond = micros ? 1_000_000n : 1000n;
  let seconds = value / perSecond;
  let fraction = value % perSecond;
  if (fraction < 0n) {
    fraction += perSecond;
    seconds -= 1n;
  }
  const base = isoDate(new Date(Number(seconds) * 1000)).slice(0, 19);
  return `${base}.${fraction.toString().padStart(micros ? 6 : 3, "0")}`;
}

function timeText(value: bigint, micros: boolean): string {
  const perSecond = micros ? 1_000_000n : 1000n;
  const seconds = Number(value / perSecond);
  const hh = String(Math.floor(seconds / 3600)).padStart(2, "0");
  const mm = String(Math.floor(seconds / 60) % 60).padStart(2, "0");
  const ss = String(seconds % 60).padStart(2, "0");
  return `${hh}:${mm}:${ss}.${(value % perSecond).toString().padStart(micros ? 6 : 3, "0")}`;
}

function isoDate(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new Error("a date or timestamp out of range");
  return date.toISOString();
}
