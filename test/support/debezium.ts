/**
 * Change events as Debezium writes them through Kafka Connect's JSON converter with schemas enabled
 * (`{ "schema": ..., "payload": ... }`), values in their wire encodings, for tests.
 */

/** A Kafka Connect field schema. */
export type ConnectField = Record<string, unknown> & { readonly field: string };

/** The minimal big-endian two's-complement bytes of an integer, base64 (Kafka Connect's Decimal). */
export function twosComplementBase64(value: bigint): string {
  const bytes: number[] = [];
  let rest = value;
  for (;;) {
    bytes.unshift(Number(BigInt.asUintN(8, rest)));
    rest >>= 8n;
    const signBit = (bytes[0]! & 0x80) !== 0;
    if ((rest === 0n && !signBit) || (rest === -1n && signBit)) break;
  }
  return Buffer.from(bytes).toString("base64");
}

/** A decimal's text (`-12.30`) as its unscaled integer at `scale`, encoded as Kafka Connect sends it. */
export function decimalBase64(text: string, scale: number): string {
  const negative = text.startsWith("-");
  const [whole, fraction = ""] = text.replace(/^-/, "").split(".");
  const digits = BigInt(`${whole}${fraction.padEnd(scale, "0")}`);
  return twosComplementBase64(negative ? -digits : digits);
}

/** Field schemas of the logical types, by short name. */
export const connectField = {
  int32: (field: string): ConnectField => ({ type: "int32", optional: false, field }),
  string: (field: string): ConnectField => ({ type: "string", optional: true, field }),
  bytes: (field: string): ConnectField => ({ type: "bytes", optional: true, field }),
  decimal: (field: string, scale: number, precision?: number): ConnectField => ({
    type: "bytes",
    optional: true,
    name: "org.apache.kafka.connect.data.Decimal",
    version: 1,
    parameters: {
      scale: String(scale),
      ...(precision === undefined ? {} : { "connect.decimal.precision": String(precision) }),
    },
    field,
  }),
  variableScale: (field: string): ConnectField => ({
    type: "struct",
    optional: true,
    name: "io.debezium.data.VariableScaleDecimal",
    version: 1,
    fields: [
      { type: "int32", optional: false, field: "scale" },
      { type: "bytes", optional: false, field: "value" },
    ],
    field,
  }),
  logical: (field: string, type: string, name: string): ConnectField => ({
    type,
    optional: true,
    name,
    version: 1,
    field,
  }),
};

/** A Debezium envelope schema whose `before` and `after` images have the given fields. */
export function envelopeSchema(fields: readonly ConnectField[]): Record<string, unknown> {
  const image = (field: string) => ({
    type: "struct",
    fields,
    optional: true,
    name: "server.public.t.Value",
    field,
  });
  return {
    type: "struct",
    fields: [
      image("before"),
      image("after"),
      {
        type: "struct",
        fields: [{ type: "int64", optional: true, field: "lsn" }],
        optional: false,
        name: "io.debezium.connector.postgresql.Source",
        field: "source",
      },
      { type: "string", optional: false, field: "op" },
      { type: "int64", optional: true, field: "ts_ms" },
    ],
    optional: false,
    name: "server.public.t.Envelope",
    version: 1,
  };
}

/** A flat event schema (Debezium's ExtractNewRecordState): the row's fields and the op field. */
export function flatSchema(fields: readonly ConnectField[]): Record<string, unknown> {
  return {
    type: "struct",
    fields: [...fields, { type: "string", optional: true, field: "__op" }],
    optional: false,
    name: "server.public.t.Value",
  };
}

/** One line of JSON: an event in the JSON converter's envelope. */
export function wrapped(schema: Record<string, unknown>, payload: Record<string, unknown>): string {
  return JSON.stringify({ schema, payload });
}
