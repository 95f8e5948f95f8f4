import { createReadStream } from "node:fs";
import { inflateRawSync } from "node:zlib";
import { SluiceError } from "../errors.js";
import { type AvroField, compileAvroRecord } from "./avro-values.js";

const MAGIC = Buffer.from("Obj\x01", "latin1");

type Avsc = typeof import("avsc");
type AvscType = ReturnType<Avsc["Type"]["forSchema"]>;

/**
 * A reader schema (`source.avro_schema`): each file's records are resolved from the file's own schema
 * to this one by Avro's rules, so every file lands with its columns.
 */
export interface AvroReaderSchema {
  /** The schema file as written in the config, for messages. */
  readonly path: string;
  /** The parsed schema (JSON). */
  readonly schema: unknown;
}

/** avsc's API (CommonJS: the default export of the ESM namespace). */
export async function loadAvsc(): Promise<Avsc> {
  const loaded = await import("avsc");
  return ((loaded as { default?: Avsc }).default ?? loaded) as Avsc;
}

/** An Avro container file being read: its top-level fields, and its records block by block. */
export interface AvroContainer {
  /** Each top-level field: its DuckDB type (undefined: nested or mixed) and its JSON and CSV writers. */
  readonly fields: readonly AvroField[];
  /** The decoded records of each block in file order (longs as BigInt, unions wrapped). */
  blocks(): AsyncGenerator<readonly unknown[]>;
}

/**
 * Opens an Avro object container file (schema from its header; codecs null and deflate): the header is
 * read first, then {@link AvroContainer.blocks} streams the file in 1 MiB reads and decodes one block at
 * a time, so memory holds one block's records whatever the file's size. A truncated file, a wrong sync
 * marker, a file without a schema or a block that does not decode fails, naming the file and the block.
 * With a `reader` schema, records are resolved from the file's schema to it (Avro's rules, by avsc's
 * resolver) and the fields are the reader's; a file whose schema does not resolve fails, named.
 *
 * @example
 * const file = await openAvroContainer("/landing/in/a.avro", "in/a.avro");
 * for await (const records of file.blocks()) count += records.length;
 */
export async function openAvroContainer(
  source: string,
  displayPath: string,
  reader?: AvroReaderSchema,
): Promise<AvroContainer> {
  const avro = await loadAvsc();
  const fail = (what: string) =>
    new SluiceError("FILE_UNPARSEABLE", `${displayPath}: not a readable Avro file: ${what}`);
  const chunks = createReadStream(source, { highWaterMark: 1 << 20 })[
    Symbol.asyncIterator
  ]() as AsyncIterator<Buffer>;
  let pending: Buffer = Buffer.alloc(0);
  let header: ReturnType<typeof readHeader>;
  for (;;) {
    const next = await chunks.next();
    if (next.done) {
      throw fail(
        pending.length < 4 || !pending.subarray(0, 4).equals(MAGIC)
          ? "no Avro header"
          : "its header is cut short",
      );
    }
    pending = pending.length === 0 ? next.value : Buffer.concat([pending, next.value]);
    header = readHeader(avro, pending, fail);
    if (header) break;
  }
  const { meta, sync } = header;
  const decoder = blockDecoder(avro, meta, fail, reader && { ...reader, displayPath });
  pending = pending.subarray(header.end);
  return {
    fields: decoder.fields,
    async *blocks() {
      let block = 0;
      for (;;) {
        let pos = 0;
        for (;;) {
          const next = readBlock(pending, pos);
          if (!next) break;
          block++;
          if (!next.sync.equals(sync)) throw fail(`block ${block} ends with a wrong sync marker`);
          pos = next.end;
          yield decoder.decode(next.data, next.count, block);
        }
        pending = pending.subarray(pos);
        const chunk = await chunks.next();
        if (chunk.done) break;
        pending = pending.length === 0 ? chunk.value : Buffer.concat([pending, chunk.value]);
      }
      if (pending.length > 0)
        throw fail(`cut short after block ${block} (${pending.length} bytes of an incomplete block)`);
    },
  };
}

/** The header when `buffer` holds all of it: metadata, sync marker, and where the first block starts. */
function readHeader(
  avro: Avsc,
  buffer: Buffer,
  fail: (what: string) => SluiceError,
): { meta: Record<string, Buffer>; sync: Buffer; end: number } | undefined {
  if (buffer.length < 4) return undefined;
  if (!buffer.subarray(0, 4).equals(MAGIC)) throw fail("no Avro header (it does not start with Obj\\x01)");
  const metaType = avro.Type.forSchema({ type: "map", values: "bytes" });
  let decoded: { value: unknown; offset: number };
  try {
    decoded = metaType.decode(buffer, 4);
  } catch (error) {
    throw fail(`its header does not decode (${(error as Error).message})`);
  }
  if (decoded.offset < 0 || decoded.offset + 16 > buffer.length) return undefined;
  const sync = Buffer.from(buffer.subarray(decoded.offset, decoded.offset + 16));
  return { meta: decoded.value as Record<string, Buffer>, sync, end: decoded.offset + 16 };
}

/** Zig-zag varint at `pos` (a block's count or size), or undefined when the buffer ends first. */
function readLong(buffer: Buffer, pos: number): { value: number; end: number } | undefined {
  let n = 0;
  let shift = 1;
  for (let i = pos; i < buffer.length; i++) {
    const b = buffer[i]!;
    n += (b & 0x7f) * shift;
    shift *= 128;
    if ((b & 0x80) === 0) return { value: n % 2 === 0 ? n / 2 : -(n + 1) / 2, end: i + 1 };
  }
  return undefined;
}

function readBlock(
  buffer: Buffer,
  pos: number,
): { count: number; data: Buffer; sync: Buffer; end: number } | undefined {
  const count = readLong(buffer, pos);
  if (!count) return undefined;
  const size = readLong(buffer, count.end);
  if (!size) return undefined;
  const end = size.end + Math.abs(size.value) + 16;
  if (end > buffer.length) return undefined;
  return {
    count: Math.abs(count.value),
    data: buffer.subarray(size.end, size.end + Math.abs(size.value)),
    sync: buffer.subarray(end - 16, end),
    end,
  };
}

/**
 * The schema with each `{ type: "long", … }` written as `"long"`: avsc takes a registry's type only for a
 * name, and the logical types (timestamps) are written from the schema itself (see compileAvroRecord).
 */
function longsByName(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(longsByName);
  if (typeof schema !== "object" || schema === null) return schema;
  const object = schema as Record<string, unknown>;
  if (object.type === "long") return "long";
  const copy: Record<string, unknown> = { ...object };
  for (const key of ["type", "items", "values"]) if (key in copy) copy[key] = longsByName(copy[key]);
  if (Array.isArray(copy.fields)) {
    copy.fields = (copy.fields as Record<string, unknown>[]).map((f) => ({
      ...f,
      type: longsByName(f.type),
    }));
  }
  return copy;
}

interface BlockDecoder {
  readonly fields: readonly AvroField[];
  decode(data: Buffer, count: number, block: number): unknown[];
}

/**
 * The avsc type of `schema`: longs as BigInt (no precision lost), unions wrapped (the branch is known,
 * never guessed). Throws avsc's reason when the schema is not a valid Avro schema.
 */
export function avroType(avro: Avsc, schema: unknown): AvscType {
  const long = avro.types.LongType.__with({
    fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
    toBuffer: (n: bigint) => {
      const buf = Buffer.alloc(8);
      buf.writeBigInt64LE(n);
      return buf;
    },
    fromJSON: BigInt,
    toJSON: Number,
    isValid: (n: unknown) => typeof n === "bigint",
    compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
  });
  // A registry per type: avsc adds each named type to it, and a reader and a writer share names.
  return avro.Type.forSchema(longsByName(schema) as import("avsc").Schema, {
    wrapUnions: true,
    registry: { long },
  });
}

/** Decodes a block's records with the file's schema (codec null or deflate), resolved to `reader`'s. */
function blockDecoder(
  avro: Avsc,
  meta: Record<string, Buffer>,
  fail: (what: string) => SluiceError,
  reader: (AvroReaderSchema & { displayPath: string }) | undefined,
): BlockDecoder {
  const codec = meta["avro.codec"]?.toString() ?? "null";
  if (codec !== "null" && codec !== "deflate") {
    throw fail(`codec ${codec} is not supported (null and deflate are)`);
  }
  const schemaText = meta["avro.schema"]?.toString();
  if (!schemaText) throw fail("its header holds no schema (avro.schema)");
  let type: AvscType;
  let fields: readonly AvroField[];
  try {
    const schema = JSON.parse(schemaText);
    type = avroType(avro, schema);
    fields = compileAvroRecord(schema).fields;
  } catch (error) {
    throw fail(`its schema cannot be read (${(error as Error).message})`);
  }
  let resolver: ReturnType<AvscType["createResolver"]> | undefined;
  if (reader) {
    const readerType = avroType(avro, reader.schema);
    try {
      resolver = readerType.createResolver(type);
    } catch (error) {
      throw new SluiceError(
        "FILE_UNPARSEABLE",
        `${reader.displayPath}: its schema does not resolve to ${reader.path}: ${(error as Error).message}`,
      );
    }
    type = readerType;
    fields = compileAvroRecord(reader.schema as Parameters<typeof compileAvroRecord>[0]).fields;
  }
  return {
    fields,
    decode(data, count, block) {
      let bytes: Buffer;
      try {
        bytes = codec === "deflate" ? inflateRawSync(data) : data;
      } catch (error) {
        throw fail(`block ${block} does not inflate (${(error as Error).message})`);
      }
      const records: unknown[] = new Array(count);
      let pos = 0;
      for (let i = 0; i < count; i++) {
        let decoded: { value: unknown; offset: number };
        try {
          decoded = type.decode(bytes, pos, resolver);
        } catch (error) {
          throw fail(`record ${i + 1} of block ${block} does not decode (${(error as Error).message})`);
        }
        if (decoded.offset < 0) throw fail(`block ${block} ends inside record ${i + 1} of ${count}`);
        pos = decoded.offset;
        records[i] = decoded.value;
      }
      if (pos !== bytes.length) throw fail(`block ${block} holds bytes after its ${count} records`);
      return records;
    },
  };
}
