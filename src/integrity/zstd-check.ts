import { Decompress } from "fzstd";
import type { CompressionCheck } from "./compression-check.js";
import { lineCounter } from "./line-count.js";
import { zstdFrameCheck } from "./zstd-frame-check.js";

/**
 * The zstd check of a file as it streams by: its frames must be whole (see zstdFrameCheck), and its
 * content is decompressed (output discarded) to count its line breaks, which the read is checked
 * against as for gzip. Decompression is only for counting: content it cannot decode (corruption inside
 * a block, a window larger than the decoder takes) leaves the lines uncounted, and DuckDB's own read
 * reports a damaged block.
 *
 * @example
 * const check = zstdCheck(); await check.write(chunk); const damage = await check.end(); check.lines?.();
 */
export function zstdCheck(): CompressionCheck {
  const frames = zstdFrameCheck();
  const counter = lineCounter();
  let counting = true;
  let written = 0;
  const decoder = new Decompress((chunk) =>
    counter.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length)),
  );
  const push = (chunk: Uint8Array, last: boolean) => {
    if (!counting) return;
    try {
      decoder.push(chunk, last);
    } catch {
      counting = false;
    }
  };
  let damage: string | undefined;
  return {
    async write(chunk) {
      written += chunk.length;
      await frames.write(chunk);
      push(chunk, false);
    },
    async end() {
      damage = await frames.end();
      if (written > 0 && damage === undefined) push(new Uint8Array(0), true);
      return damage;
    },
    lines() {
      return counting && damage === undefined && written > 0 ? counter.end() : undefined;
    },
  };
}
