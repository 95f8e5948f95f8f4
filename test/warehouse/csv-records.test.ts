import { PassThrough, Readable, Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { lastRecordEnd, splitRecords } from "../../src/warehouse/csv-records.js";

/** RFC 4180 field, quoted when it must be (as DuckDB writes CSV). */
function field(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** A small RFC 4180 reader: the records of a text that must end at a record boundary. */
function records(text: string): string[][] {
  const out: string[][] = [];
  let row: string[] = [];
  let value = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        value += '"';
        i++;
      } else if (c === '"') quoted = false;
      else value += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(value);
      value = "";
    } else if (c === "\n") {
      row.push(value);
      out.push(row);
      row = [];
      value = "";
    } else value += c;
  }
  expect(quoted).toBe(false); // a piece never ends inside a quoted field
  if (value !== "" || row.length > 0) {
    row.push(value);
    out.push(row);
  }
  return out;
}

const tricky = ["plain", 'say "hi"', "a,b", "line\nbreak", '"', '""', "", "ünïcødé ✓", 'end"\n', "x\n\ny"];

function sampleRows(n: number): string[][] {
  return Array.from({ length: n }, (_, i) => [String(i), tricky[i % tricky.length]!, `v${i * 7}`]);
}

/** The rows as CSV, optionally without the last newline. */
function csvOf(rows: string[][], trailingNewline = true): string {
  const text = rows.map((r) => r.map(field).join(",")).join("\n");
  return trailingNewline ? `${text}\n` : text;
}

/** A source emitting `text` in chunks of pseudo-random sizes (1..max bytes), split mid-character too. */
function chunked(text: string, max: number, seed = 7): Readable {
  const bytes = Buffer.from(text);
  const chunks: Buffer[] = [];
  let state = seed;
  for (let at = 0; at < bytes.length; ) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    const size = 1 + (state % max);
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return Readable.from(chunks, { objectMode: false });
}

/** A sink collecting what it is given, slowly enough to need draining. */
function collector(delayMs = 0): Writable & { bytes: Buffer[] } {
  const bytes: Buffer[] = [];
  const sink = new Writable({
    highWaterMark: 256,
    write(chunk: Buffer, _enc, cb) {
      bytes.push(chunk);
      if (delayMs > 0) setTimeout(cb, delayMs);
      else setImmediate(cb);
    },
  });
  return Object.assign(sink, { bytes });
}

describe("lastRecordEnd", () => {
  it("finds the last newline outside quotes", () => {
    expect(lastRecordEnd(Buffer.from("1,a\n2,b\n3,c"))).toBe(8);
    expect(lastRecordEnd(Buffer.from("1,a\n2,b\n"))).toBe(8);
    expect(lastRecordEnd(Buffer.from("no newline"))).toBe(0);
    expect(lastRecordEnd(Buffer.from('1,"a\nb"\n2,"c\n'))).toBe(8); // the last newline is quoted
    expect(lastRecordEnd(Buffer.from('1,"a\nb'))).toBe(0);
    expect(lastRecordEnd(Buffer.from('1,"say ""x"""\n2,"""\n'))).toBe(14); // the second field is still open
    expect(lastRecordEnd(Buffer.from('"\n"\n'))).toBe(4);
  });
});

describe("splitRecords", () => {
  it("spreads whole records over every sink and loses no byte", async () => {
    const rows = sampleRows(3000);
    for (const [max, trailing] of [
      [5, true],
      [300, false],
      [4096, true],
    ] as const) {
      const text = csvOf(rows, trailing);
      const sinks = [collector(), collector(1), collector()];
      await splitRecords(chunked(text, max), sinks);
      const pieces = sinks.map((s) => Buffer.concat(s.bytes).toString());
      expect(pieces.reduce((n, p) => n + Buffer.byteLength(p), 0)).toBe(Buffer.byteLength(text));
      expect(pieces.filter((p) => p.length > 0).length).toBeGreaterThan(1);
      const got = pieces.flatMap(records).sort((a, b) => Number(a[0]) - Number(b[0]));
      expect(got).toEqual(rows);
    }
  });

  it("keeps a record longer than many chunks whole", async () => {
    const rows = [
      ["1", "a"],
      ["2", `"${"z\n".repeat(50_000)}"`],
      ["3", "c"],
    ];
    const sinks = [collector(), collector()];
    await splitRecords(chunked(csvOf(rows), 1000), sinks);
    const got = sinks.flatMap((s) => records(Buffer.concat(s.bytes).toString()));
    expect(got.sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual(rows);
  });

  it("fails with a sink's error, destroying the source and the other sinks", async () => {
    const source = chunked(csvOf(sampleRows(5000)), 500);
    const good = collector(1);
    const bad = new Writable({
      highWaterMark: 256,
      write(_chunk, _enc, cb) {
        cb(new Error("COPY rejected the data"));
      },
    });
    await expect(splitRecords(source, [good, bad])).rejects.toThrow("COPY rejected the data");
    expect(source.destroyed).toBe(true);
    expect(good.destroyed).toBe(true);
  });

  it("fails with the source's error and destroys the sinks", async () => {
    const source = new PassThrough();
    const sinks = [collector(), collector()];
    const done = splitRecords(source, sinks);
    source.write("1,a\n2,b\n");
    source.destroy(new Error("export failed"));
    await expect(done).rejects.toThrow("export failed");
    expect(sinks.every((s) => s.destroyed)).toBe(true);
  });
});
