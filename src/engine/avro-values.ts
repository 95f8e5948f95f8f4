/**
 * Avro values as JSON text, compiled once per schema from the schema itself (logical types included),
 * and the DuckDB type each top-level field lands as. Values come from avsc decoding with unions wrapped
 * (`{branch: value}`) and longs as BigInt, so nothing is guessed and no long loses precision.
 */

/** Writes one decoded value as JSON text. */
export type AvroJsonWriter = (value: unknown) => string;

interface Compiled {
  readonly write: AvroJsonWriter;
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
  fields: { name: string; type: string | undefined }[];
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
      return {
        write: (v) => `[${(v as unknown[]).map(items).join(",")}]`,
        type: undefined,
        branch: "array",
      };
    }
    case "map": {
      const values = compile(schema.values as Schema, named, namespace).write;
      return {
        write: (v) =>
          `{${Object.entries(v as Record<string, unknown>)
            .map(([k, x]) => `${JSON.stringify(k)}:${values(x)}`)
            .join(",")}}`,
        type: undefined,
        branch: "map",
      };
    }
    default:
      return compile(type, named, namespace);
  }
}

function compileRecord(
  schema: { readonly [key: string]: unknown },
  named: Map<string, Compiled>,
  outer: string | undefined,
): Compiled & { fields: { name: string; type: string | undefined }[] } {
  const branch = fullName(String(schema.name), outer);
  const namespace = namespaceOf(schema, outer);
  const fields: { key: string; name: string; write: AvroJsonWriter; type: string | undefined }[] = [];
  const compiled = {
    write: (v: unknown) => {
      const record = v as Record<string, unknown>;
      let out = "{";
      for (let i = 0; i < fields.length; i++) {
        const f = fields[i]!;
        out += `${i === 0 ? "" : ","}${f.key}:${f.write(record[f.name])}`;
      }
      return `${out}}`;
    },
    type: undefined,
    branch,
    fields: [] as { name: string; type: string | undefined }[],
  };
  // Registered before its fields: a record may refer to itself (a tree).
  named.set(branch, compiled);
  for (const f of schema.fields as { name: string; type: Schema }[]) {
    const field = compile(f.type, named, namespace);
    fields.push({ key: JSON.stringify(f.name), name: f.name, write: field.write, type: field.type });
    compiled.fields.push({ name: f.name, type: field.type });
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
  const byName = new Map(compiled.map((c) => [c.branch, c.write]));
  const others = compiled.filter((c) => c.branch !== "null");
  return {
    write: (v) => {
      if (v === null || v === undefined) return "null";
      const [name, inner] = Object.entries(v as Record<string, unknown>)[0]!;
      const write = byName.get(name);
      if (!write) throw new Error(`union value of unknown branch ${name}`);
      return write(inner);
    },
    type: others.length === 1 ? others[0]!.type : undefined,
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
      return { write: (v) => `"${decimalText(v as Buffer, scale)}"`, type, branch };
    }
    case "date":
      if (base !== "int") return undefined;
      return { write: (v) => `"${dateText(v as number)}"`, type: "DATE", branch };
    case "timestamp-millis":
    case "timestamp-micros":
    case "local-timestamp-millis":
    case "local-timestamp-micros": {
      if (base !== "long") return undefined;
      const micros = String(schema.logicalType).endsWith("micros");
      const local = String(schema.logicalType).startsWith("local");
      return {
        write: (v) => `"${timestampText(BigInt(v as bigint | number), micros)}${local ? "" : "Z"}"`,
        type: local ? "TIMESTAMP" : "TIMESTAMPTZ",
        branch,
      };
    }
    case "time-millis":
    case "time-micros": {
      const micros = schema.logicalType === "time-micros";
      return { write: (v) => `"${timeText(BigInt(v as number | bigint), micros)}"`, type: "TIME", branch };
    }
    case "uuid":
      if (base !== "string") return undefined;
      return { write: (v) => JSON.stringify(v), type: "UUID", branch };
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

const primitives: Record<string, Compiled> = {
  null: { write: () => "null", type: undefined, branch: "null" },
  boolean: { write: (v) => (v ? "true" : "false"), type: "BOOLEAN", branch: "boolean" },
  int: { write: (v) => String(v), type: "INTEGER", branch: "int" },
  long: { write: (v) => String(v), type: "BIGINT", branch: "long" },
  float: { write: number, type: "FLOAT", branch: "float" },
  double: { write: number, type: "DOUBLE", branch: "double" },
  string: { write: (v) => JSON.stringify(v), type: "VARCHAR", branch: "string" },
  // Bytes land as base64 text (JSON carries no binary).
  bytes: { write: (v) => `"${(v as Buffer).toString("base64")}"`, type: "VARCHAR", branch: "bytes" },
};

/** A two's-complement big-endian unscaled value as decimal text. */
function decimalText(bytes: Buffer, scale: number): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  if (bytes.length > 0 && (bytes[0]! & 0x80) !== 0) n -= 1n << BigInt(bytes.length * 8);
  const negative = n < 0n;
  const digits = (negative ? -n : n).toString().padStart(scale + 1, "0");
  const text = scale > 0 ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return negative ? `-${text}` : text;
}

function dateText(days: number): string {
  return isoDate(new Date(days * DAY_MS)).slice(0, 10);
}

/** Milliseconds or microseconds since the epoch as ISO text with all their digits, no zone. */
function timestampText(value: bigint, micros: boolean): string {
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
