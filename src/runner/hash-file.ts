import { createHash } from "node:crypto";
import type { Readable } from "node:stream";

/** What the ledger knows a file by: the SHA-256 of its content and how many bytes were hashed. */
export interface ContentDigest {
  readonly sha256: string;
  readonly bytes: number;
}

/**
 * SHA-256 of a stream's content, read in large chunks (files are known by content, never by name).
 *
 * @example
 * const { sha256, bytes } = await hashStream(await landing.createReadStream("in/a.csv"));
 */
export async function hashStream(stream: Readable): Promise<ContentDigest> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), bytes };
}
