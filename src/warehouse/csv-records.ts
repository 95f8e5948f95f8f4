import { once } from "node:events";
import type { Readable, Writable } from "node:stream";
import { finished } from "node:stream/promises";

const NEWLINE = 0x0a;
const QUOTE = 0x22;

/**
 * Where the last complete CSV record in `data` ends (the index just after its newline), or 0 when no
 * record is complete. `data` must start at a record boundary. Quoting is RFC 4180's, as DuckDB writes it
 * (a quoted field doubles its quotes), so a newline ends a record exactly when an even number of quotes
 * precede it; bytes 0x0A and 0x22 never occur inside a multi-byte UTF-8 character.
 *
 * @example
 * lastRecordEnd(Buffer.from('1,"a\nb"\n2,c')) // 8: the second record is not complete yet
 */
export function lastRecordEnd(data: Buffer): number {
  let newline = data.lastIndexOf(NEWLINE);
  if (newline < 0) return 0;
  if (data.indexOf(QUOTE) < 0) return newline + 1;
  const quotes: number[] = [];
  for (let i = data.indexOf(QUOTE); i >= 0; i = data.indexOf(QUOTE, i + 1)) quotes.push(i);
  while (newline >= 0) {
    if (countBelow(quotes, newline) % 2 === 0) return newline + 1;
    newline = newline > 0 ? data.lastIndexOf(NEWLINE, newline - 1) : -1;
  }
  return 0;
}

/** How many of the sorted `positions` are below `limit`. */
function countBelow(positions: readonly number[], limit: number): number {
  let lo = 0;
  let hi = positions.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (positions[mid]! < limit) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Streams CSV bytes from `source` into several sinks at once, cut only between records: each piece goes
 * to the sink that is ready for more (the one whose consumer keeps up), so the rows are spread over all
 * of them. Every byte reaches exactly one sink; the sinks are ended when the source is. When a sink
 * fails, the source and the other sinks are destroyed and its error is thrown; when the source fails,
 * the sinks are destroyed.
 *
 * @example
 * await splitRecords(createReadStream("batch.csv"), [copyStreamA, copyStreamB]);
 */
export async function splitRecords(source: Readable, sinks: readonly Writable[]): Promise<void> {
  let failure: unknown;
  const fail = (error: unknown) => {
    if (failure !== undefined) return;
    failure = error;
    source.destroy();
    for (const sink of sinks) sink.destroy(error instanceof Error ? error : new Error(String(error)));
  };
  const done = sinks.map((sink) => finished(sink));
  for (const d of done) d.catch(fail);

  const ready = async (): Promise<Writable> => {
    const free = sinks.filter((s) => !s.writableNeedDrain);
    if (free.length > 0) return free.reduce((a, b) => (b.writableLength < a.writableLength ? b : a));
    const stop = new AbortController();
    try {
      return await Promise.race(sinks.map((s) => once(s, "drain", { signal: stop.signal }).then(() => s)));
    } finally {
      stop.abort();
    }
  };
  const send = async (piece: Buffer) => {
    if (piece.length === 0 || failure !== undefined) return;
    (await ready()).write(piece);
  };

  try {
    // Chunks without a newline wait (a long record spans several); the rest is cut at its last record end.
    let pending: Buffer[] = [];
    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (failure !== undefined) break;
      if (chunk.indexOf(NEWLINE) < 0) {
        pending.push(chunk);
        continue;
      }
      const data = pending.length > 0 ? Buffer.concat([...pending, chunk]) : chunk;
      const end = lastRecordEnd(data);
      await send(data.subarray(0, end));
      pending = end < data.length ? [data.subarray(end)] : [];
    }
    if (failure === undefined) await send(Buffer.concat(pending));
  } catch (error) {
    fail(error);
  }
  if (failure === undefined) for (const sink of sinks) sink.end();
  await Promise.allSettled(done);
  if (failure !== undefined) throw failure;
}
