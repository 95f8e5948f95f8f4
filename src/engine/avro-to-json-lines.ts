import { createReadStream } from "node:fs";
import { mkdir, open } from "node:fs/promises";
import { basename, join } from "node:path";
import { inflateRawSync } from "node:zlib";
import { SluiceError } from "../errors.js";
import type { LineCount } from "../integrity/line-count.js";
import { compileAvroRecord } from "./avro-values.js";

/** An Avro container file written as JSON lines: one line per record, in file order. */
export interface AvroJsonLines {
  readonly path: string;
  readonly records: number;
  /** The copy's line breaks (one per record), for the read's line accounting. */
  readonly lines: LineCount;
  /** Each top-level field and the DuckDB type its values land as (undefined: nested, left to the reader). */
  readonly fields: readonly { name: string; type: string | undefined }[];
}

const MAGIC = Buffer.from("Obj\x01", "latin1");
/** JSON text gathered before one write: rows cross into the copy in big blocks. */
const WRITE_BYTES = 4 * 1024 * 1024;

type Avsc = typeof import("avsc");

/**
 * Decodes an Avro object container file (schema from its header; codecs null and deflate) block by block
 * and writes its records as JSON lines into `folder`, for the JSON-lines read. Logical types are written
 * as text DuckDB casts exactly (decimal, date, timestamps, time, uuid); bytes and fixed as base64. A
 * truncated file, a wrong sync marker, a file without a schema or a block that does not decode fails,
 * naming the file and the block.
 *
 * @example
 * const copy = await avroToJsonLines("/landing/in/a.avro", "in/a.avro", "/tmp/run/f0");
 */
export async function avroToJsonLines(
  source: string,
  displayPath: string,
  folder: string,
): Promise<AvroJsonLines> {
  // avsc is CommonJS: its API is the default export of the ESM namespace.
  const loaded = await import("avsc");
  const avro = ((loaded as { default?: Avsc }).default ?? loaded) as Avsc;
  await mkdir(folder, { recursive: true });
  const target = join(folder, `${basename(source)}.jsonl`);
  const out = await open(target, "w");
  const fail = (what: string) =>
    new SluiceError("FILE_UNPARSEABLE", `${displayPath}: not a readable Avro file: ${what}`);
  let pending: Buffer = Buffer.alloc(0);
  let header: ReturnType<typeof readHeader> | undefined;
  let decoder: BlockDecoder | undefined;
  let records = 0;
  let block = 0;
  let text: string[] = [];
  let textBytes = 0;
  try {
    for await (const chunk of createReadStream(source, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let pos = 0;
      if (!header) {
        header = readHeader(avro, pending, fail);
        if (!header) continue;
        decoder = blockDecoder(avro, header.meta, fail);
        pos = header.end;
      }
      for (;;) {
        const next = readBlock(pending, pos);
        if (!next) break;
        block++;
        if (!next.sync.equals(header.sync)) throw fail(`block ${block} ends with a wrong sync marker`);
        for (const line of decoder!.decode(next.data, next.count, block)) {
          text.push(line);
          textBytes += line.length;
        }
        records += next.count;
        pos = next.end;
        if (textBytes >= WRITE_BYTES) {
          await out.write(text.join(""));
          text = [];
          textBytes = 0;
        }
      }
      pending = pending.subarray(pos);
    }
    if (!header)
      throw fail(
        pending.length < 4 || !pending.subarray(0, 4).equals(MAGIC)
          ? "no Avro header"
          : "its header is cut short",
      );
    if (pending.length > 0)
      throw fail(`cut short after block ${block} (${pending.length} bytes of an incomplete block)`);
    await out.write(text.join(""));
  } finally {
    await out.close();
  }
  return { path: target, records, lines: { lf: records, cr: 0, open: 0, blank: 0 }, fields: decoder!.fields };
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
  readonly fields: { name: string; type: string | undefined }[];
  decode(data: Buffer, count: number, block: number): string[];
}

/** Decodes a block's records to JSON lines with the file's schema (codec null or deflate). */
function blockDecoder(
  avro: Avsc,
  meta: Record<string, Buffer>,
  fail: (what: string) => SluiceError,
): BlockDecoder {
  const codec = meta["avro.codec"]?.toString() ?? "null";
  if (codec !== "null" && codec !== "deflate") {
    throw fail(`codec ${codec} is not supported (null and deflate are)`);
  }
  const schemaText = meta["avro.schema"]?.toString();
  if (!schemaText) throw fail("its header holds no schema (avro.schema)");
  let type: ReturnType<Avsc["Type"]["forSchema"]>;
  let compiled: ReturnType<typeof compileAvroRecord>;
  try {
    const schema = JSON.parse(schemaText);
    // Longs as BigInt (no precision lost), unions wrapped (the branch is known, never guessed).
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
    type = avro.Type.forSchema(longsByName(schema) as import("avsc").Schema, {
      wrapUnions: true,
      registry: { long },
    });
    compiled = compileAvroRecord(schema);
  } catch (error) {
    throw fail(`its schema cannot be read (${(error as Error).message})`);
  }
  return {
    fields: compiled.fields,
    decode(data, count, block) {
      let bytes: Buffer;
      try {
        bytes = codec === "deflate" ? inflateRawSync(data) : data;
      } catch (error) {
        throw fail(`block ${block} does not inflate (${(error as Error).message})`);
      }
      const lines: string[] = new Array(count);
      let pos = 0;
      for (let i = 0; i < count; i++) {
        let decoded: { value: unknown; offset: number };
        try {
          decoded = type.decode(bytes, pos);
        } catch (error) {
          throw fail(`record ${i + 1} of block ${block} does not decode (${(error as Error).message})`);
        }
        if (decoded.offset < 0) throw fail(`block ${block} ends inside record ${i + 1} of ${count}`);
        pos = decoded.offset;
        lines[i] = `${compiled.write(decoded.value)}\n`;
      }
      if (pos !== bytes.length) throw fail(`block ${block} holds bytes after its ${count} records`);
      return lines;
    },
  };
}
