import { createReadStream, createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { basename, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { TextDecoder } from "node:util";
import { type LineCount, lineCounter } from "../integrity/line-count.js";

/**
 * Writes a UTF-16 file as UTF-8 into `folder` for DuckDB, whose own UTF-16 decoding reads only
 * little-endian and fails on characters outside the Basic Multilingual Plane (an emoji's surrogate
 * pair). The byte order comes from the BOM (little-endian without one); the BOM is dropped. Returns the
 * copy's path and its line breaks (the ones counted while hashing the UTF-16 bytes do not apply).
 *
 * @example
 * const { path, lines } = await utf16ToUtf8("/landing/in/a.csv", "/tmp/run/f0");
 */
export async function utf16ToUtf8(
  source: string,
  folder: string,
): Promise<{ path: string; lines: LineCount }> {
  await mkdir(folder, { recursive: true });
  const target = join(folder, `utf8-${basename(source).replace(/\.(gz|gzip|zst|zstd)$/i, "")}`);
  let decoder: TextDecoder | undefined;
  const counter = lineCounter();
  await pipeline(
    createReadStream(source, { highWaterMark: 1 << 20 }),
    async function* (chunks) {
      for await (const chunk of chunks as AsyncIterable<Buffer>) {
        if (!decoder) {
          const bigEndian = chunk[0] === 0xfe && chunk[1] === 0xff;
          decoder = new TextDecoder(bigEndian ? "utf-16be" : "utf-16le");
        }
        const text = Buffer.from(decoder.decode(chunk, { stream: true }));
        counter.write(text);
        yield text;
      }
      const rest = Buffer.from(decoder?.decode() ?? "");
      counter.write(rest);
      yield rest;
    },
    createWriteStream(target),
  );
  return { path: target, lines: counter.end() };
}
