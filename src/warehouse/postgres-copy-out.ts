import type { Readable } from "node:stream";
import { to as copyTo } from "pg-copy-streams";

/** `COPY ... TO STDOUT` as pg-copy-streams streams it: a Readable that `client.query` submits. */
type CopyOutStream = ReturnType<typeof copyTo>;

/** The internals of pg-copy-streams' CopyStreamQuery (7.x) that the fast parse below drives. */
interface CopyStreamInternals {
  _buffer: { push(chunk: Buffer): void };
  _detach(): void;
  _cleanup(): void;
  push(chunk: Buffer | null): boolean;
  /** Header bytes of a message split across socket chunks (fewer than 5). */
  _sluiceHead?: Buffer | undefined;
  /** Payload bytes of the current message still to come, and its type. */
  _sluiceLeft?: number;
  _sluiceCode?: number;
}

const ERROR_RESPONSE = 0x45;
const COPY_DATA = 0x64;
/** Messages that may come between CopyData messages without ending copy-out mode. */
const INTERSPERSED = new Set([0x48, COPY_DATA, 0x53, 0x4e, 0x41]);

/**
 * The parse of pg-copy-streams (7.x) copies every CopyData message (one per row) into a buffer list
 * of its own before joining them: at 1M rows about a fifth of the extract's CPU was spent there
 * (allocating a Buffer view per row, then the garbage collector). This one walks each socket chunk in
 * place and copies the payloads into one buffer per chunk. The protocol handling is the library's: an
 * ErrorResponse, or the end of copy-out mode, hands the unread bytes back to the pg connection
 * (`_detach`), which then reports the error or the command's row count as it does for the library.
 */
function parseChunk(this: CopyStreamInternals, input: Buffer): boolean | undefined {
  const chunk = this._sluiceHead ? Buffer.concat([this._sluiceHead, input]) : input;
  this._sluiceHead = undefined;
  const out = Buffer.allocUnsafe(chunk.length);
  let written = 0;
  let at = 0;
  let left = this._sluiceLeft ?? 0;
  let code = this._sluiceCode ?? 0;
  let ended = false;
  let failed = false;
  while (at < chunk.length) {
    if (left > 0) {
      const n = Math.min(left, chunk.length - at);
      if (code === COPY_DATA) written += chunk.copy(out, written, at, at + n);
      at += n;
      left -= n;
      if (left > 0) break;
      if (!INTERSPERSED.has(code)) {
        ended = true;
        break;
      }
      continue;
    }
    if (chunk[at] === ERROR_RESPONSE) {
      failed = true;
      break;
    }
    if (chunk.length - at < 5) {
      this._sluiceHead = Buffer.from(chunk.subarray(at));
      at = chunk.length;
      break;
    }
    code = chunk[at]!;
    left = chunk.readUInt32BE(at + 1) - 4;
    at += 5;
    if (left === 0 && !INTERSPERSED.has(code)) {
      ended = true;
      break;
    }
  }
  this._sluiceLeft = left;
  this._sluiceCode = code;
  const drained = written > 0 ? this.push(out.subarray(0, written)) : true;
  if (failed || ended) {
    // What follows is the connection's again (the error, CommandComplete, ReadyForQuery).
    this._buffer.push(chunk.subarray(at));
    this._detach();
    if (failed) return undefined;
    this.push(null);
    this._cleanup();
  }
  return drained;
}

/**
 * `COPY (...) TO STDOUT` as a stream of the rows' bytes, for `client.query(copyOut(sql))`; `rowCount`
 * is COPY's count once the stream ended.
 *
 * @example
 * const copy = client.query(copyOut("COPY (SELECT * FROM t) TO STDOUT WITH (FORMAT csv)"));
 * await pipeline(copy, createWriteStream(file));
 */
export function copyOut(sql: string): CopyOutStream & Readable {
  const stream = copyTo(sql);
  (stream as unknown as { _parse: typeof parseChunk })._parse = parseChunk;
  return stream;
}
