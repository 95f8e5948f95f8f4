import { createHash } from "node:crypto";
import type { FileFormat } from "../config/schema.js";

/**
 * Where a processed source file goes: `archive/<pipeline>/YYYY/MM/<name>_<YYYYMMDDHHmmss>.<ext>`
 * (or `unprocessed/...`). The extension keeps compression suffixes (`.csv.gz`). Pure.
 *
 * @example
 * landingDestination("archive", "orders", "in/orders/a b.csv.gz", new Date("2026-11-21T22:33:44Z"))
 * // => "archive/orders/2026/11/a b_20261121223344.csv.gz"
 */
export function landingDestination(
  area: "archive" | "unprocessed",
  pipeline: string,
  sourcePath: string,
  at: Date,
  attempt = 0,
): string {
  const fileName = sourcePath.split("/").pop() ?? sourcePath;
  const stamp = timestamp(at);
  const suffix = attempt > 0 ? `_${attempt + 1}` : "";
  const yyyy = stamp.slice(0, 4);
  const mm = stamp.slice(4, 6);
  return `${area}/${pipeline}/${yyyy}/${mm}/${stampedName(fileName, `_${stamp}${suffix}`)}`;
}

/** The longest file name common file systems take (ext4, XFS, APFS: 255 bytes; NTFS: 255 UTF-16 units). */
export const MAX_NAME_BYTES = 255;

/** Room kept for the `_N` a second file of the same name in the same second gets. */
const ATTEMPT_ROOM = 6;

/**
 * `<stem><tag><ext>`; when that is longer than {@link MAX_NAME_BYTES}, the stem is cut (at a character
 * boundary) and followed by `~` and 8 hex digits of the whole name's sha256, so that long names differing
 * only at their end stay apart. An extension too long to keep is left in the stem.
 *
 * @example
 * stampedName("a.csv", "_20261121223344") // "a_20261121223344.csv"
 */
export function stampedName(fileName: string, tag: string): string {
  const split = splitExtension(fileName);
  const whole = `${split.stem}${tag}${split.ext}`;
  if (Buffer.byteLength(whole) <= MAX_NAME_BYTES - ATTEMPT_ROOM) return whole;
  const { stem, ext } = Buffer.byteLength(split.ext) > 32 ? { stem: fileName, ext: "" } : split;
  const mark = `~${createHash("sha256").update(fileName).digest("hex").slice(0, 8)}`;
  const room = MAX_NAME_BYTES - ATTEMPT_ROOM - Buffer.byteLength(`${mark}${tag}${ext}`);
  let kept = "";
  for (const char of stem) {
    if (Buffer.byteLength(kept + char) > room) break;
    kept += char;
  }
  return `${kept}${mark}${tag}${ext}`;
}

/** Whether each part of a landing path fits in a file name ({@link MAX_NAME_BYTES}). */
export function fitsFileName(path: string): boolean {
  return path.split("/").every((part) => Buffer.byteLength(part) <= MAX_NAME_BYTES);
}

/** `logs/YYYY/MM/DD/<run_id>.jsonl` */
export function runLogPath(runId: string, at: Date): string {
  const stamp = timestamp(at);
  return `logs/${stamp.slice(0, 4)}/${stamp.slice(4, 6)}/${stamp.slice(6, 8)}/${runId}.jsonl`;
}

/** `quarantine/<pipeline>/<run_id>/` */
export function quarantineFolder(pipeline: string, runId: string): string {
  return `quarantine/${pipeline}/${runId}`;
}

/** The file holding a run's quarantined rows, in its quarantine folder. */
export function quarantineFileOf(folder: string): string {
  return `${folder}/rows.jsonl`;
}

const compressionSuffixes = [".gz", ".zst", ".gzip", ".zstd"];

/** Splits `orders.csv.gz` into `orders` and `.csv.gz`; dot files keep their name as the stem. */
export function splitExtension(fileName: string): { stem: string; ext: string } {
  let rest = fileName;
  let ext = "";
  const lower = rest.toLowerCase();
  const compression = compressionSuffixes.find((s) => lower.endsWith(s) && lower.length > s.length);
  if (compression) {
    ext = rest.slice(rest.length - compression.length);
    rest = rest.slice(0, rest.length - compression.length);
  }
  const dot = rest.lastIndexOf(".");
  if (dot > 0) {
    ext = rest.slice(dot) + ext;
    rest = rest.slice(0, dot);
  }
  return { stem: rest, ext };
}

/** UTC `YYYYMMDDHHmmss`. */
export function timestamp(at: Date): string {
  return at.toISOString().replace(/[-:T]/g, "").slice(0, 14);
}

/** Detects the source format from a file name (ignoring compression suffixes). */
export function formatFromName(fileName: string): FileFormat | undefined {
  const { ext } = splitExtension(fileName.split("/").pop() ?? fileName);
  const base = ext.toLowerCase().replace(/\.(gz|zst|gzip|zstd)$/, "");
  if (base === ".csv" || base === ".tsv" || base === ".txt") return "csv";
  if (base === ".jsonl" || base === ".ndjson") return "jsonl";
  // A .json file may hold an array, one object or JSON lines: the json reader tells them apart.
  if (base === ".json") return "json";
  if (base === ".parquet" || base === ".pq") return "parquet";
  if (base === ".avro") return "avro";
  return undefined;
}
