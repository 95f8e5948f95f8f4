import { mkdir, open } from "node:fs/promises";
import { basename, join } from "node:path";
import type { LineCount } from "../integrity/line-count.js";
import { type AvroReaderSchema, openAvroContainer } from "./avro-container.js";

/** An Avro container file written as JSON lines: one line per record, in file order. */
export interface AvroJsonLines {
  readonly path: string;
  readonly records: number;
  /** The copy's line breaks (one per record), for the read's line accounting. */
  readonly lines: LineCount;
  /** Each top-level field and the DuckDB type its values land as (undefined: nested, left to the reader). */
  readonly fields: readonly { name: string; type: string | undefined }[];
}

/** JSON text gathered before one write: rows cross into the copy in big blocks. */
const WRITE_BYTES = 4 * 1024 * 1024;

/**
 * Writes an Avro container file's records as JSON lines into `folder`, for the JSON-lines read (the
 * nested modes `flatten` and `tables`, which split records by their JSON paths). Logical types are
 * written as text DuckDB casts exactly (decimal, date, timestamps, time, uuid); bytes and fixed as
 * base64. With a `reader` schema, records and fields are the reader's (see {@link openAvroContainer}).
 * Errors of the file are {@link openAvroContainer}'s.
 *
 * @example
 * const copy = await avroToJsonLines("/landing/in/a.avro", "in/a.avro", "/tmp/run/f0");
 */
export async function avroToJsonLines(
  source: string,
  displayPath: string,
  folder: string,
  reader?: AvroReaderSchema,
): Promise<AvroJsonLines> {
  const file = await openAvroContainer(source, displayPath, reader);
  await mkdir(folder, { recursive: true });
  const target = join(folder, `${basename(source)}.jsonl`);
  const out = await open(target, "w");
  const fields = file.fields;
  const write = (record: unknown) => {
    const r = record as Record<string, unknown>;
    let line = "{";
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      line += `${i === 0 ? "" : ","}${JSON.stringify(f.name)}:${f.write(r[f.name])}`;
    }
    return `${line}}\n`;
  };
  let records = 0;
  let text: string[] = [];
  let textBytes = 0;
  try {
    for await (const block of file.blocks()) {
      for (const record of block) {
        const line = write(record);
        text.push(line);
        textBytes += line.length;
      }
      records += block.length;
      if (textBytes >= WRITE_BYTES) {
        await out.write(text.join(""));
        text = [];
        textBytes = 0;
      }
    }
    await out.write(text.join(""));
  } finally {
    await out.close();
  }
  return {
    path: target,
    records,
    lines: { lf: records, cr: 0, open: 0, blank: 0 },
    fields: fields.map((f) => ({ name: f.name, type: f.type })),
  };
}
