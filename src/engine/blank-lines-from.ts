import { closeSync, fstatSync, openSync, readSync, writeSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { basename, join } from "node:path";

/** A line of a file left out of a read: its 1-based number and its text. */
export interface BlankedLine {
  readonly line: number;
  readonly text: string;
}

const CHUNK = 1 << 20;

/**
 * Writes a copy of a file into `folder` whose bytes from `start` on are replaced by their line breaks
 * only: the lines from there on read as blank lines, every line keeps its place (line numbers still
 * hold). Returns the copy and the non-blank lines it left out, for a table's footer or a second table
 * that must be quarantined, not read as rows.
 *
 * @example
 * const cut = await blankLinesFrom("in/a.csv", workDir, 1024); // { path, lines: [{ line: 41, text: "Total,,123," }] }
 */
export async function blankLinesFrom(
  source: string,
  folder: string,
  start: number,
  encoding: BufferEncoding = "utf8",
): Promise<{ path: string; lines: BlankedLine[] }> {
  await mkdir(folder, { recursive: true });
  const target = join(folder, `cut-${basename(source)}`);
  const input = openSync(source, "r");
  const output = openSync(target, "w");
  try {
    const size = fstatSync(input).size;
    const buffer = Buffer.allocUnsafe(CHUNK);
    let breaks = 0;
    let lastCr = false;
    // The bytes before `start` are copied as they are, their line breaks counted (\r\n, \r, \n once each).
    for (let pos = 0; pos < start; ) {
      const n = readSync(input, buffer, 0, Math.min(CHUNK, start - pos), pos);
      if (n <= 0) break;
      const chunk = buffer.subarray(0, n);
      breaks += countBreaks(chunk, lastCr);
      lastCr = chunk[n - 1] === 13;
      writeSync(output, chunk);
      pos += n;
    }
    const lines: BlankedLine[] = [];
    let line = breaks + 1;
    let text: number[] = [];
    const flush = () => {
      const value = Buffer.from(text).toString(encoding);
      if (value.trim() !== "") lines.push({ line, text: value });
      text = [];
    };
    for (let pos = start; pos < size; ) {
      const n = readSync(input, buffer, 0, CHUNK, pos);
      if (n <= 0) break;
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const b = buffer[i]!;
        if (b === 10 && lastCr) {
          out.push(b);
        } else if (b === 10 || b === 13) {
          flush();
          line++;
          out.push(b);
        } else {
          text.push(b);
        }
        lastCr = b === 13;
      }
      writeSync(output, Buffer.from(out));
      pos += n;
    }
    flush();
    return { path: target, lines };
  } finally {
    closeSync(input);
    closeSync(output);
  }
}

/** Line breaks in a chunk; `afterCr`: the chunk before ended with \r (a leading \n completes it). */
function countBreaks(chunk: Buffer, afterCr: boolean): number {
  let n = 0;
  for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++;
  for (let i = chunk.indexOf(13); i !== -1; i = chunk.indexOf(13, i + 1)) {
    if (chunk[i + 1] !== 10) n++;
  }
  // A \r\n split across chunks: the \r was counted in the chunk before, the \n here is not a new one.
  if (afterCr && chunk[0] === 10) n--;
  return n;
}
