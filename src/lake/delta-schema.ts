import { SluiceError } from "../errors.js";
import { quoteIdent } from "../plan/sql-text.js";

/** A Delta Lake data type as it appears in `schemaString` (PROTOCOL.md "Schema Serialization Format"). */
export type DeltaType = string | DeltaStructType | DeltaArrayType | DeltaMapType;

export interface DeltaStructField {
  readonly name: string;
  readonly type: DeltaType;
  readonly nullable: boolean;
  readonly metadata: Readonly<Record<string, unknown>>;
}
export interface DeltaStructType {
  readonly type: "struct";
  readonly fields: readonly DeltaStructField[];
}
export interface DeltaArrayType {
  readonly type: "array";
  readonly elementType: DeltaType;
  readonly containsNull: boolean;
}
export interface DeltaMapType {
  readonly type: "map";
  readonly keyType: DeltaType;
  readonly valueType: DeltaType;
  readonly valueContainsNull: boolean;
}

/**
 * Parses a Delta `schemaString`.
 *
 * @example
 * parseDeltaSchema('{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}}]}').fields[0].name; // "id"
 */
export function parseDeltaSchema(schemaString: string): DeltaStructType {
  let parsed: unknown;
  try {
    parsed = JSON.parse(schemaString);
  } catch (error) {
    throw new SluiceError("LAKE_ERROR", `Delta metaData.schemaString is not valid JSON`, { cause: error });
  }
  const schema = parsed as DeltaStructType;
  if (schema?.type !== "struct" || !Array.isArray(schema.fields)) {
    throw new SluiceError("LAKE_ERROR", `Delta metaData.schemaString is not a struct type`);
  }
  return schema;
}

/**
 * DuckDB SQL type for a Delta type.
 *
 * @example
 * deltaToDuckType("decimal(10,2)"); // "DECIMAL(10,2)"
 */
export function deltaToDuckType(type: DeltaType): string {
  if (typeof type === "string") {
    const decimal = /^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$/.exec(type);
    if (decimal) return `DECIMAL(${decimal[1]},${decimal[2]})`;
    if (type === "decimal") return "DECIMAL(10,0)";
    const simple = PRIMITIVE_TO_DUCK[type];
    if (!simple)
      throw new SluiceError("LAKE_UNSUPPORTED_FEATURE", `Delta type "${type}" is not supported by Sluice`);
    return simple;
  }
  if (type.type === "struct") {
    return `STRUCT(${type.fields.map((f) => `${quoteIdent(f.name)} ${deltaToDuckType(f.type)}`).join(", ")})`;
  }
  if (type.type === "array") return `${deltaToDuckType(type.elementType)}[]`;
  return `MAP(${deltaToDuckType(type.keyType)}, ${deltaToDuckType(type.valueType)})`;
}

const PRIMITIVE_TO_DUCK: Readonly<Record<string, string>> = {
  boolean: "BOOLEAN",
  byte: "TINYINT",
  short: "SMALLINT",
  integer: "INTEGER",
  long: "BIGINT",
  float: "FLOAT",
  double: "DOUBLE",
  string: "VARCHAR",
  binary: "BLOB",
  date: "DATE",
  timestamp: "TIMESTAMPTZ",
  timestamp_ntz: "TIMESTAMP",
  void: "INTEGER",
};

const DUCK_TO_PRIMITIVE: Readonly<Record<string, string>> = {
  BOOLEAN: "boolean",
  TINYINT: "byte",
  SMALLINT: "short",
  INTEGER: "integer",
  BIGINT: "long",
  UTINYINT: "short",
  USMALLINT: "integer",
  UINTEGER: "long",
  FLOAT: "float",
  DOUBLE: "double",
  VARCHAR: "string",
  UUID: "string",
  JSON: "string",
  BLOB: "binary",
  DATE: "date",
  "TIMESTAMP WITH TIME ZONE": "timestamp",
  TIMESTAMPTZ: "timestamp",
  TIMESTAMP: "timestamp_ntz",
  TIMESTAMP_S: "timestamp_ntz",
  TIMESTAMP_MS: "timestamp_ntz",
  TIMESTAMP_NS: "timestamp_ntz",
  HUGEINT: "decimal(38,0)",
  UBIGINT: "decimal(20,0)",
};

/**
 * Delta type for a DuckDB column type as printed by DESCRIBE.
 *
 * @example
 * duckToDeltaType("STRUCT(a INTEGER, b VARCHAR[])"); // { type: "struct", fields: [...] }
 */
export function duckToDeltaType(duckType: string): DeltaType {
  const parser = new TypeParser(duckType);
  const result = parser.parseType();
  return result;
}

/** A Delta struct schema from DESCRIBE rows (`column_name`, `column_type`). */
export function deltaSchemaFromColumns(
  columns: readonly { readonly name: string; readonly type: string }[],
): DeltaStructType {
  return {
    type: "struct",
    fields: columns.map((c) => ({
      name: c.name,
      type: duckToDeltaType(c.type),
      nullable: true,
      metadata: {},
    })),
  };
}

/** True for Delta types that carry no min/max statistics (nested, binary, boolean). */
export function isStatsType(type: DeltaType): boolean {
  if (typeof type !== "string") return false;
  return type !== "binary" && type !== "boolean" && type !== "void";
}

class TypeParser {
  private pos = 0;
  constructor(private readonly text: string) {}

  parseType(): DeltaType {
    let type = this.parseBase();
    this.skipSpace();
    while (this.text.startsWith("[]", this.pos) || /^\[\d+\]/.test(this.text.slice(this.pos))) {
      const close = this.text.indexOf("]", this.pos);
      this.pos = close + 1;
      type = { type: "array", elementType: type, containsNull: true };
      this.skipSpace();
    }
    return type;
  }

  private parseBase(): DeltaType {
    this.skipSpace();
    const word = /^[A-Za-z_][A-Za-z0-9_ ]*?(?=[([,)]|$)/.exec(this.text.slice(this.pos));
    if (!word) throw this.fail();
    const name = word[0].trim().toUpperCase();
    this.pos += word[0].length;
    if (name === "STRUCT") {
      this.expect("(");
      const fields: DeltaStructField[] = [];
      for (;;) {
        this.skipSpace();
        const fieldName = this.parseName();
        const fieldType = this.parseType();
        fields.push({ name: fieldName, type: fieldType, nullable: true, metadata: {} });
        this.skipSpace();
        if (this.text[this.pos] === ",") {
          this.pos++;
          continue;
        }
        this.expect(")");
        break;
      }
      return { type: "struct", fields };
    }
    if (name === "MAP") {
      this.expect("(");
      const keyType = this.parseType();
      this.expect(",");
      const valueType = this.parseType();
      this.expect(")");
      return { type: "map", keyType, valueType, valueContainsNull: true };
    }
    if (name === "DECIMAL" || name === "NUMERIC") {
      if (this.text[this.pos] !== "(") return "decimal(18,3)";
      this.expect("(");
      const close = this.text.indexOf(")", this.pos);
      const [p, s] = this.text
        .slice(this.pos, close)
        .split(",")
        .map((x) => Number(x.trim()));
      this.pos = close + 1;
      return `decimal(${p},${s ?? 0})`;
    }
    if (name === "VARCHAR" && this.text[this.pos] === "(") {
      this.pos = this.text.indexOf(")", this.pos) + 1;
    }
    const primitive = DUCK_TO_PRIMITIVE[name];
    if (!primitive) {
      throw new SluiceError("LAKE_UNSUPPORTED_FEATURE", `DuckDB type ${name} has no Delta Lake equivalent`);
    }
    return primitive;
  }

  private parseName(): string {
    if (this.text[this.pos] === '"') {
      let out = "";
      this.pos++;
      for (;;) {
        const ch = this.text[this.pos];
        if (ch === undefined) throw this.fail();
        if (ch === '"') {
          if (this.text[this.pos + 1] === '"') {
            out += '"';
            this.pos += 2;
            continue;
          }
          this.pos++;
          return out;
        }
        out += ch;
        this.pos++;
      }
    }
    const word = /^[^\s"]+/.exec(this.text.slice(this.pos));
    if (!word) throw this.fail();
    this.pos += word[0].length;
    return word[0];
  }

  private expect(ch: string): void {
    this.skipSpace();
    if (this.text[this.pos] !== ch) throw this.fail();
    this.pos++;
  }

  private skipSpace(): void {
    while (this.text[this.pos] === " ") this.pos++;
  }

  private fail(): SluiceError {
    return new SluiceError("LAKE_ERROR", `cannot parse DuckDB type "${this.text}" at position ${this.pos}`);
  }
}
