import { closeSync, createReadStream, createWriteStream, fstatSync, openSync, readSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { basename, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { type LineCount, lineCounter } from "../integrity/line-count.js";

/** Bytes looked at to tell whether a file mixes line ends. */
const PROBE_BYTES = 1024 * 1024;

/**
 * Whether the start of an uncompressed file mixes line ends (`\r\n` with a lone `\n` or `\r`): DuckDB's
 * sniffer fails on such a file, and its reader takes one style per file. Content holding NUL bytes is
 * taken for binary, not text.
 */
export function mixesLineEnds(path: string): boolean {
  if (/\.(gz|gzip|zst|zstd)$/i.test(path)) return false;
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const buffer = Buffer.allocUnsafe(Math.min(fstatSync(fd).size, PROBE_BYTES));
    return mixesLineEndsIn(buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, 0)));
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** {@link mixesLineEnds} of an uncompressed file's content, read already (its first MiB is looked at). */
export function mixesLineEndsIn(content: Buffer): boolean {
  const text = content.subarray(0, PROBE_BYTES).toString("latin1");
  // Binary content is no text with line ends to repair: it fails the read as it is.
  if (text.includes("\0")) return false;
  const styles = [/\r\n/.test(text), /(^|[^\r])\n/.test(text), /\r(?!\n|$)/.test(text)];
  return styles.filter(Boolean).length > 1;
}

/**
 * Writes a copy of a file whose line ends are all `\n` into `folder` (`\r\n` and a lone `\r` become
 * `\n`). Inside a value quoted with `quote` the bytes are kept as they are: a value's own `\r\n` is data.
 * Returns the copy's path and its line breaks.
 *
 * @example
 * if (mixesLineEnds(path)) ({ path } = await lineEndsToLf(path, workDir));
 */
export async function lineEndsToLf(
  source: string,
  folder: string,
  quote = '"',
): Promise<{ path: string; lines: LineCount }> {
  await mkdir(folder, { recursive: true });
  const target = join(folder, `lf-${basename(source)}`);
  const counter = lineCounter();
  const q = quote === "" ? -1 : quote.charCodeAt(0);
  let quoted = false;
  // A "\r" ending a chunk outside quotes may be the first half of a "\r\n": it is settled by the next.
  let heldCr = false;
  await pipeline(
    createReadStream(source, { highWaterMark: 1 << 20 }),
    async function* (chunks) {
      for await (const chunk of chunks as AsyncIterable<Buffer>) {
        const out = Buffer.allocUnsafe(chunk.length + 1);
        let n = 0;
        let i = 0;
        if (heldCr) {
          out[n++] = 10;
          if (chunk[0] === 10) i = 1;
          heldCr = false;
        }
        for (; i < chunk.length; i++) {
          const b = chunk[i]!;
          if (b === q) quoted = !quoted;
          if (b !== 13 || quoted) {
            out[n++] = b;
          } else if (i + 1 === chunk.length) {
            heldCr = true;
          } else {
            out[n++] = 10;
            if (chunk[i + 1] === 10) i++;
          }
        }
        const written = out.subarray(0, n);
        counter.write(written);
        yield written;
      }
      if (heldCr) {
        const out = Buffer.from("\n");
        counter.write(out);
        yield out;
      }
    },
    createWriteStream(target),
  );
  return { path: target, lines: counter.end() };
}
