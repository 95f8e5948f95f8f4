import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import type { CompressionCheck } from "./compression-check.js";
import { type LineCount, lineCounter } from "./line-count.js";

/** What the ledger knows a file by: the SHA-256 of its content and how many bytes were hashed. */
export interface ContentDigest {
  readonly sha256: string;
  readonly bytes: number;
  /** Why the file's compressed content is not whole (truncated, corrupt), when it was checked and is not. */
  readonly damage?: string | undefined;
  /** The content's line breaks (decompressed where the check inflates it); undefined when not counted. */
  readonly lines?: LineCount | undefined;
}

/**
 * SHA-256 of a stream's content, read in large chunks (files are known by content, never by name).
 * With a `check`, the same chunks go through it: a compressed file is checked in the read that hashes it.
 *
 * @example
 * const { sha256, bytes } = await hashStream(await landing.createReadStream("in/a.csv"));
 */
export async function hashStream(stream: Readable, check?: CompressionCheck): Promise<ContentDigest> {
  const hash = createHash("sha256");
  // Compressed bytes say nothing about lines: the check counts the inflated ones when it can.
  const counter = check ? undefined : lineCounter();
  let bytes = 0;
  try {
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
      if (check) await check.write(chunk as Buffer);
      else counter!.write(chunk as Buffer);
    }
  } catch (error) {
    await check?.end();
    throw error;
  }
  const damage = await check?.end();
  return { sha256: hash.digest("hex"), bytes, damage, lines: counter?.end() ?? check?.lines?.() };
}

/**
 * The digest of content read whole already (a small file read for another purpose): as
 * {@link hashStream} gives for the same bytes, without reading them again.
 *
 * @example
 * const { sha256, lines } = digestOf(readFileSync("in/a.csv"));
 */
export function digestOf(content: Buffer): ContentDigest {
  const counter = lineCounter();
  counter.write(content);
  return {
    sha256: createHash("sha256").update(content).digest("hex"),
    bytes: content.length,
    damage: undefined,
    lines: counter.end(),
  };
}
