import { describe, expect, it } from "vitest";
import { batchChunk, POISON_MARK } from "../../src/streams/batch-chunk.js";
import type { StreamMessage } from "../../src/streams/stream-source.js";

const message = (position: number, data: string | Uint8Array): StreamMessage => ({
  position: String(position),
  id: `m${position}`,
  subject: "events.a",
  data: typeof data === "string" ? Buffer.from(data) : data,
  timestamp: new Date(0),
  redelivered: false,
});

describe("batchChunk", () => {
  it("writes one line per record: objects as they are, arrays of objects spread, pretty JSON compacted", () => {
    const chunk = batchChunk([
      message(1, '{"id":1}'),
      message(2, '[{"id":2},{"id":3}]'),
      message(3, '{\n  "id": 4\n}'),
      message(4, "[]"),
    ]);
    expect(chunk.text).toBe('{"id":1}\n{"id":2}\n{"id":3}\n{"id":4}\n');
    expect(chunk.lines).toBe(4);
    expect(chunk.poison).toEqual([]);
  });

  it("turns poison into one marked line naming subject, id, position, reason and payload", () => {
    const chunk = batchChunk([
      message(7, "not json"),
      message(8, "42"),
      message(9, '[{"id":1}, 2]'),
      message(10, new Uint8Array([0xff, 0xfe, 0x00])),
      message(11, '{"id":11}'),
    ]);
    const lines = chunk.text.trimEnd().split("\n");
    expect(lines).toHaveLength(5);
    expect(lines[4]).toBe('{"id":11}');
    expect(chunk.poison.map((p) => p.message.position)).toEqual(["7", "8", "9", "10"]);
    for (const line of lines.slice(0, 4)) expect(line.startsWith(POISON_MARK)).toBe(true);
    const first = JSON.parse(lines[0]!.slice(POISON_MARK.length));
    expect(first).toMatchObject({ subject: "events.a", id: "m7", position: "7", payload: "not json" });
    expect(first.reason).toMatch(/not JSON/);
    expect(JSON.parse(lines[1]!.slice(POISON_MARK.length)).reason).toMatch(/not an object/);
    expect(JSON.parse(lines[2]!.slice(POISON_MARK.length)).reason).toMatch(/array holding/);
    // Bytes that are not UTF-8 are kept exactly, as base64.
    expect(JSON.parse(lines[3]!.slice(POISON_MARK.length)).payload_base64).toBe(
      Buffer.from([0xff, 0xfe, 0x00]).toString("base64"),
    );
  });

  it("gives an empty chunk for no messages", () => {
    expect(batchChunk([])).toEqual({
      text: "",
      lines: 0,
      poison: [],
      longestLine: 0,
      records: { keys: [], flat: true, poison: [] },
    });
  });

  it("tells the records' keys and kinds, and the poison lines with a copy of the good lines", () => {
    const chunk = batchChunk([
      message(1, '{"id":1,"name":"a"}'),
      message(2, "oops"),
      message(3, '[{"id":2,"ok":true},{"id":null,"n":1.5}]'),
    ]);
    expect(chunk.records.keys).toEqual([
      { name: "id", kinds: 4 | 1 },
      { name: "name", kinds: 2 },
      { name: "ok", kinds: 8 },
      { name: "n", kinds: 4 },
    ]);
    expect(chunk.records.flat).toBe(true);
    expect(chunk.records.poison.map((p) => p.line)).toEqual([2]);
    expect(chunk.records.poison[0]!.text.startsWith(POISON_MARK)).toBe(true);
    expect(chunk.records.goodText).toBe('{"id":1,"name":"a"}\n{"id":2,"ok":true}\n{"id":null,"n":1.5}\n');
    expect(batchChunk([message(1, '{"a":{"b":1}}')]).records.flat).toBe(false);
  });
});
