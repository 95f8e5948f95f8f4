import { createHash } from "node:crypto";
import type { Readable } from "node:stream";

/**
 * SHA-256 of a stream's content, read in large chunks (files are known by content, never by name).
 *
 * @example
 * const { sha256, bytes } = await hashStream(createReadStream("a.csv"));
 */
export async function hashStream(stream: Readable): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), bytes };
}
