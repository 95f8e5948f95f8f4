import { once } from "node:events";
import { createGunzip } from "node:zlib";
import type { CompressionCheck } from "./compression-check.js";
import { lineCounter } from "./line-count.js";

/**
 * Inflates gzip data as it streams by (output discarded) and reports how it is not whole: cut short,
 * or failing its CRC or length trailer or a header. Concatenated members are one valid stream, as for
 * DuckDB. No bytes at all are not checked (an empty file loads nothing).
 *
 * @example
 * const check = gzipCheck(); await check.write(chunk); const damage = await check.end();
 */
export function gzipCheck(): CompressionCheck {
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  let damage: string | undefined;
  let written = 0;
  const finished = new Promise<void>((resolve) => {
    gunzip.once("error", (error: NodeJS.ErrnoException) => {
      damage = gzipDamage(error);
      resolve();
    });
    gunzip.once("end", () => resolve());
  });
  // The inflated bytes are only counted (line breaks, to check the read against).
  const counter = lineCounter();
  gunzip.on("data", (chunk: Buffer) => counter.write(chunk));
  return {
    async write(chunk) {
      if (damage !== undefined || chunk.length === 0) return;
      written += chunk.length;
      if (!gunzip.write(chunk)) await Promise.race([once(gunzip, "drain"), finished]);
    },
    async end() {
      if (written === 0) {
        gunzip.destroy();
        return undefined;
      }
      if (damage === undefined) gunzip.end();
      await finished;
      return damage;
    },
    lines() {
      return damage === undefined && written > 0 ? counter.end() : undefined;
    },
  };
}

function gzipDamage(error: NodeJS.ErrnoException): string {
  return error.code === "Z_BUF_ERROR"
    ? `the gzip data is truncated (${error.message})`
    : `the gzip data is corrupt (${error.message})`;
}
