import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inProgressAckDue, natsStream } from "../../src/streams/nats-stream.js";
import type { StreamSource } from "../../src/streams/stream-source.js";
import { expectAgedWhenAsked } from "../support/stream-lag-age.js";
import {
  createNatsStream,
  deleteNatsStream,
  eventPayloads,
  natsAvailable,
  natsTestStream,
  natsUrl,
  publishNats,
} from "../support/streams.js";

const available = await natsAvailable();
const { stream: STREAM, subject: SUBJECT } = natsTestStream("NATSSTREAMTEST");

describe("in-progress acks", () => {
  it("go to messages that would wait half their ack wait by the next round, not to ones just pulled", () => {
    // ack_wait 30 s: a round every 10 s.
    expect(inProgressAckDue(0, 2_000, 10_000, 30_000)).toBe(false);
    expect(inProgressAckDue(0, 5_000, 10_000, 30_000)).toBe(true);
    // A short ack wait (rounds at the 250 ms floor): every held message, every round.
    expect(inProgressAckDue(1_000, 1_000, 250, 400)).toBe(true);
  });
});

describe.skipIf(!available)("NATS JetStream source", () => {
  const open: StreamSource[] = [];
  const source = (durable: string, ackWait = "30s"): StreamSource => {
    const s = natsStream(
      { url: natsUrl, stream: STREAM, subject: `${SUBJECT}.${durable}`, durable, ack_wait: ackWait },
      { maxAckPending: 20_000 },
    );
    open.push(s);
    return s;
  };
  beforeAll(async () => {
    await createNatsStream(STREAM, SUBJECT);
  });
  afterAll(async () => {
    for (const s of open) await s.close();
    await deleteNatsStream(STREAM);
  });

  it("closes a batch at max_rows, or when the stream has nothing more within max_wait", async () => {
    await publishNats(`${SUBJECT}.rows`, eventPayloads(300));
    const s = source("rows");
    await s.connect();
    const byRows = await s.pull({ maxRows: 100, maxBytes: 16 << 20, maxWaitMs: 5_000 });
    expect(byRows.map((m) => Number(m.position))).toEqual([...Array(100).keys()].map((i) => i + 1));
    const byTime = await s.pull({ maxRows: 10_000, maxBytes: 16 << 20, maxWaitMs: 1_000 });
    expect(byTime).toHaveLength(200);
    expect(await s.pull({ maxRows: 10_000, maxBytes: 16 << 20, maxWaitMs: 300 })).toEqual([]);
    await s.ack([...byRows, ...byTime].map((m) => m.position));
    expect((await s.lag()).pending).toBe(0);
  });

  it("closes a batch at max_bytes", async () => {
    const big = JSON.stringify({ blob: "b".repeat(50_000) });
    await publishNats(`${SUBJECT}.bytes`, Array(100).fill(big));
    const s = source("bytes");
    await s.connect();
    const cap = 2 << 20;
    const first = await s.pull({ maxRows: 10_000, maxBytes: cap, maxWaitMs: 5_000 });
    const bytes = first.reduce((n, m) => n + m.data.length, 0);
    // It closes once it reaches the cap: over it by its last message at most.
    expect(bytes).toBeGreaterThanOrEqual(cap);
    expect(bytes).toBeLessThan(cap + big.length);
    const rest = await s.pull({ maxRows: 10_000, maxBytes: 16 << 20, maxWaitMs: 1_000 });
    expect(first.length + rest.length).toBe(100);
    await s.ack([...first, ...rest].map((m) => m.position));
  });

  it("keeps what it holds from being delivered again while it works on it longer than ack_wait", async () => {
    await publishNats(`${SUBJECT}.held`, eventPayloads(20));
    const holder = source("held", "1s");
    await holder.connect();
    const pulled = await holder.pull({ maxRows: 100, maxBytes: 16 << 20, maxWaitMs: 1_000 });
    expect(pulled).toHaveLength(20);
    // Another worker on the durable: for three ack waits, nothing comes to it (the holder's in-progress
    // acks restart the wait), although nothing was acknowledged.
    const other = source("held", "1s");
    await other.connect();
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      expect(await other.pull({ maxRows: 100, maxBytes: 16 << 20, maxWaitMs: 500 })).toEqual([]);
    }
    // The holder gone (as a killed worker), its messages come again one ack wait later (one caught in
    // transit by a pull's stop comes an ack wait after that).
    await holder.close();
    const again = new Set<string>();
    for (let i = 0; i < 10 && again.size < pulled.length; i++) {
      const got = await other.pull({ maxRows: 100, maxBytes: 16 << 20, maxWaitMs: 1_000 });
      for (const m of got) again.add(m.position);
      await other.ack(got.map((m) => m.position));
    }
    expect([...again].sort()).toEqual(pulled.map((m) => m.position).sort());
  });

  it("delivers again what was pulled and not acknowledged, marked redelivered", async () => {
    await publishNats(`${SUBJECT}.again`, eventPayloads(20));
    const first = source("again", "1s");
    await first.connect();
    const pulled = await first.pull({ maxRows: 100, maxBytes: 16 << 20, maxWaitMs: 1_000 });
    expect(pulled).toHaveLength(20);
    await first.ack(pulled.slice(0, 5).map((m) => m.position));
    await first.close();
    const second = source("again", "1s");
    await second.connect();
    let again: Awaited<ReturnType<StreamSource["pull"]>> = [];
    for (let i = 0; i < 10 && again.length === 0; i++) {
      again = await second.pull({ maxRows: 100, maxBytes: 16 << 20, maxWaitMs: 1_000 });
    }
    expect(again.map((m) => m.position)).toEqual(pulled.slice(5).map((m) => m.position));
    expect(again.every((m) => m.redelivered)).toBe(true);
    await second.ack(again.map((m) => m.position));
  });

  it("marks a created durable's first deliveries redelivered until told nothing was published before", async () => {
    await publishNats(`${SUBJECT}.created`, eventPayloads(6));
    const first = source("created");
    await first.connect();
    expect(first.createdConsumer?.()).toBe(true);
    const marked = await first.pull({ maxRows: 3, maxBytes: 16 << 20, maxWaitMs: 1_000 });
    expect(marked.map((m) => m.redelivered)).toEqual([true, true, true]);
    first.nothingPublishedBefore?.();
    expect(first.createdConsumer?.()).toBe(false);
    const fresh = await first.pull({ maxRows: 3, maxBytes: 16 << 20, maxWaitMs: 1_000 });
    expect(fresh.map((m) => m.redelivered)).toEqual([false, false, false]);
    await first.ack([...marked, ...fresh].map((m) => m.position));
    // Connecting to the durable that exists creates nothing: only the broker's redeliveries are marked.
    const second = source("created");
    await second.connect();
    expect(second.createdConsumer?.()).toBe(false);
  });

  it("delivers a released message again at once, not after its ack wait", async () => {
    await publishNats(`${SUBJECT}.released`, eventPayloads(4));
    const s = source("released", "60s");
    await s.connect();
    const pulled = await s.pull({ maxRows: 100, maxBytes: 16 << 20, maxWaitMs: 1_000 });
    expect(pulled).toHaveLength(4);
    await s.release(pulled.map((m) => m.position));
    const again = await s.pull({ maxRows: 100, maxBytes: 16 << 20, maxWaitMs: 1_000 });
    expect(again.map((m) => m.position)).toEqual(pulled.map((m) => m.position));
    expect(again.every((m) => m.redelivered)).toBe(true);
    await s.ack(again.map((m) => m.position));
  });

  it("holds a message once in a batch even when its ack wait runs out while the batch is open", async () => {
    await publishNats(`${SUBJECT}.once`, eventPayloads(3));
    // The pull waits for more than the stream holds, longer than the ack wait: JetStream delivers the
    // three messages again into the same open fetch.
    const s = source("once", "500ms");
    await s.connect();
    const pulled = await s.pull({ maxRows: 100, maxBytes: 16 << 20, maxWaitMs: 2_500 });
    const positions = pulled.map((m) => m.position);
    expect(positions).toHaveLength(3);
    expect(new Set(positions).size).toBe(3);
    await s.ack(pulled.map((m) => m.position));
  });

  it("ages the batch's oldest message when the lag is asked, not when the pull ended", async () => {
    await publishNats(`${SUBJECT}.age`, eventPayloads(5));
    await expectAgedWhenAsked(source("age"));
  });

  it("says which server it could not reach without the password of its URL", async () => {
    const s = natsStream(
      { url: "nats://sluice:hunter2-secret@127.0.0.1:1", stream: STREAM, durable: "x", ack_wait: "30s" },
      { maxAckPending: 1000 },
    );
    const error = await s.connect().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/nats nats:\/\/\*\*\*@127\.0\.0\.1:1 .*cannot connect/);
    expect(JSON.stringify({ m: error?.message, s: error?.stack })).not.toContain("hunter2");
  });
});
