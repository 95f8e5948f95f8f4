import type { CompressionCheck } from "./compression-check.js";

const FRAME_MAGIC = 0xfd2fb528;
/** Skippable frames: magic 0x184D2A50–0x184D2A5F, a 4-byte size, that many bytes. */
const SKIPPABLE_MAGIC = 0x184d2a50;
/** A block never holds more than 128 KiB (RFC 8878, Block_Maximum_Size). */
const MAX_BLOCK_SIZE = 128 * 1024;
const DICTIONARY_ID_SIZES = [0, 1, 2, 4] as const;
const CONTENT_SIZE_SIZES = [0, 2, 4, 8] as const;

/** The header the walker expects next: a frame's magic number, a frame header descriptor, a block header, a skippable frame's size. */
type Expecting = "magic" | "descriptor" | "block" | "skippable";

/** What follows a header: the next header (its size in bytes) and how many bytes to pass before it. */
interface Step {
  readonly expecting: Expecting;
  readonly size: number;
  readonly skip: number;
  /** Set by a frame header descriptor: the frame ends with a 4-byte content checksum. */
  readonly checksum: boolean;
}

/**
 * Walks the frame structure of zstd data as it streams by (RFC 8878) without decompressing it: every
 * frame must start with a magic number and end with its last block (and content checksum, when it
 * declares one); block headers must be valid. That finds a truncated file — DuckDB reads one as an
 * empty or shortened file without an error — and corruption of the structure; damage inside a
 * compressed block is DuckDB's to find when it decompresses it. No bytes at all are not checked.
 *
 * @example
 * const check = zstdFrameCheck(); await check.write(chunk); const damage = await check.end();
 */
export function zstdFrameCheck(): CompressionCheck {
  let step: Step = { expecting: "magic", size: 4, skip: 0, checksum: false };
  const header: number[] = [];
  /** Bytes still to pass before the next header (rest of a frame header, block content, checksum). */
  let skip = 0;
  let seen = 0;
  let headerAt = 0;
  let damage: string | undefined;

  return {
    async write(chunk) {
      let i = 0;
      while (i < chunk.length && damage === undefined) {
        if (skip > 0) {
          const passed = Math.min(skip, chunk.length - i);
          skip -= passed;
          i += passed;
          seen += passed;
          continue;
        }
        if (header.length === 0) headerAt = seen;
        header.push(chunk[i]!);
        i++;
        seen++;
        if (header.length < step.size) continue;
        const next = afterHeader(
          step,
          header.reduce((v, byte, k) => v + byte * 2 ** (8 * k), 0),
        );
        header.length = 0;
        if (typeof next === "string") {
          damage = `the zstd data is corrupt (${next} at byte ${headerAt})`;
        } else {
          step = next;
          skip = next.skip;
        }
      }
    },
    async end() {
      if (damage !== undefined || seen === 0) return damage;
      const whole = step.expecting === "magic" && header.length === 0 && skip === 0;
      return whole ? undefined : "the zstd data is truncated (the file ends inside a frame)";
    },
  };
}

/** The step after a header of `value` (little-endian) was read, or what is wrong with it. */
function afterHeader(step: Step, value: number): Step | string {
  const { checksum } = step;
  switch (step.expecting) {
    case "magic":
      if (value === FRAME_MAGIC) return { expecting: "descriptor", size: 1, skip: 0, checksum };
      if (value - (value % 16) === SKIPPABLE_MAGIC)
        return { expecting: "skippable", size: 4, skip: 0, checksum };
      return "no zstd frame starts";
    case "descriptor": {
      if (value & 0x08) return "a reserved frame header bit is set";
      const singleSegment = (value & 0x20) !== 0;
      const contentSizeFlag = value >> 6;
      // The rest of the frame header: window descriptor, dictionary id, frame content size.
      const rest =
        (singleSegment ? 0 : 1) +
        DICTIONARY_ID_SIZES[value & 0x03]! +
        (contentSizeFlag === 0 ? (singleSegment ? 1 : 0) : CONTENT_SIZE_SIZES[contentSizeFlag]!);
      return { expecting: "block", size: 3, skip: rest, checksum: (value & 0x04) !== 0 };
    }
    case "block": {
      const last = (value & 1) !== 0;
      const type = (value >> 1) & 3;
      const size = value >>> 3;
      if (type === 3) return "a block of the reserved type";
      if (size > MAX_BLOCK_SIZE) return `a block of ${size} bytes`;
      // An RLE block holds one byte, repeated `size` times.
      const content = type === 1 ? 1 : size;
      if (!last) return { expecting: "block", size: 3, skip: content, checksum };
      return { expecting: "magic", size: 4, skip: content + (checksum ? 4 : 0), checksum: false };
    }
    case "skippable":
      return { expecting: "magic", size: 4, skip: value, checksum };
  }
}
