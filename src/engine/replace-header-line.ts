import { closeSync, createReadStream, createWriteStream, openSync, readSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { basename, join } from "node:path";
import { pipeline } from "node:stream/promises";

/** Bytes looked through for the line to replace (it is within a CSV sample: the first 64 KB). */
const SEARCH_BYTES = 64 * 1024;

/**
 * Writes a copy of a file into `folder` whose 0-based line `index` is replaced by `text` (its line break
 * kept), every other byte as it was: the same lines in the same places, so line numbers still hold.
 * For a header row the reader cannot skip (a stray quote swallows the rows after it when skipped).
 *
 * @example
 * const copy = await replaceHeaderLine("in/a.csv", workDir, 0, '"id","name"');
 */
export async function replaceHeaderLine(
  source: string,
  folder: string,
  index: number,
  text: string,
): Promise<string | undefined> {
  const fd = openSync(source, "r");
  let start = 0;
  let end = -1;
  try {
    const buffer = Buffer.allocUnsafe(SEARCH_BYTES);
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    let line = 0;
    for (let i = 0; i < length; i++) {
      const b = buffer[i]!;
      if (b !== 10 && b !== 13) continue;
      if (line === index) {
        end = i;
        break;
      }
      if (b === 13 && buffer[i + 1] === 10) i++;
      line++;
      start = i + 1;
    }
  } finally {
    closeSync(fd);
  }
  if (end === -1) return undefined;
  await mkdir(folder, { recursive: true });
  const target = join(folder, `header-${basename(source)}`);
  const prefix = Buffer.concat([
    start > 0 ? await firstBytes(source, start) : Buffer.alloc(0),
    Buffer.from(text, "utf8"),
  ]);
  await pipeline(async function* () {
    yield prefix;
    yield* createReadStream(source, { start: end, highWaterMark: 1 << 20 });
  }, createWriteStream(target));
  return target;
}

async function firstBytes(path: string, n: number): Promise<Buffer> {
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.alloc(n);
    readSync(fd, buffer, 0, n, 0);
    return buffer;
  } finally {
    closeSync(fd);
  }
}
