import { randomBytes } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import { serviceAvailable } from "./require-service.js";

/** The brokers tests use (SLUICE_TEST_NATS / SLUICE_TEST_REDIS override). */
export const natsUrl = process.env.SLUICE_TEST_NATS ?? "nats://127.0.0.1:4222";
export const redisUrl = process.env.SLUICE_TEST_REDIS ?? "redis://127.0.0.1:6379";

/** A name no other test file (or run) uses: `<prefix>_<hex>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString("hex")}`;
}

/** Whether NATS JetStream answers, for `describe.skipIf` (under CI=true it must: see require-service.ts). */
export function natsAvailable(): Promise<boolean> {
  return serviceAvailable(`NATS JetStream at ${natsUrl}`, pingNats);
}

/** Whether Redis answers, for `describe.skipIf` (under CI=true it must: see require-service.ts). */
export function redisAvailable(): Promise<boolean> {
  return serviceAvailable(`Redis at ${redisUrl}`, pingRedis);
}

/** A JetStream stream name no other test file (or run) uses, and the subject its messages go under. */
export function natsTestStream(prefix: string): { readonly stream: string; readonly subject: string } {
  const stream = uniqueName(prefix).toUpperCase();
  return { stream, subject: stream.toLowerCase() };
}

/** Creates the stream (over `<subject>.>`) before the enclosing describe's tests, deletes it after them. */
export function streamAroundTests(stream: string, subject: string): void {
  beforeAll(() => createNatsStream(stream, subject));
  afterAll(() => deleteNatsStream(stream));
}

/** Throws unless NATS with JetStream answers. */
export async function pingNats(): Promise<void> {
  const nc = await connect({ servers: natsUrl, timeout: 2000, maxReconnectAttempts: 0 });
  try {
    await jetstreamManager(nc);
  } finally {
    await nc.close();
  }
}

/** Throws unless Redis answers. */
export async function pingRedis(): Promise<void> {
  const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on("error", () => undefined);
  try {
    await r.connect();
    await r.ping();
  } finally {
    r.disconnect();
  }
}

/** Creates a JetStream stream over `<subject>.>` (replacing one of that name). */
export async function createNatsStream(stream: string, subject: string): Promise<void> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(stream).catch(() => undefined);
    await jsm.streams.add({ name: stream, subjects: [`${subject}.>`] });
  } finally {
    await nc.drain();
  }
}

/**
 * Publishes payloads to JetStream, waiting for every ack (a minute each: 1,000 acks at once on a loaded
 * machine outlast the client's 5 s default, which failed a test before it started).
 */
export async function publishNats(
  subject: string,
  payloads: readonly (string | Uint8Array)[],
): Promise<void> {
  const nc = await connect({ servers: natsUrl });
  try {
    const js = jetstream(nc);
    for (let i = 0; i < payloads.length; i += 1000) {
      await Promise.all(payloads.slice(i, i + 1000).map((p) => js.publish(subject, p, { timeout: 60_000 })));
    }
  } finally {
    await nc.drain();
  }
}

/** Deletes a JetStream stream (test cleanup). */
export async function deleteNatsStream(stream: string): Promise<void> {
  const nc = await connect({ servers: natsUrl });
  try {
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
  } finally {
    await nc.close();
  }
}

/**
 * Messages a durable consumer has not acknowledged (not yet delivered, or delivered and unacknowledged);
 * -1 before the consumer exists.
 */
export async function natsUnacknowledged(stream: string, durable: string): Promise<number> {
  const nc = await connect({ servers: natsUrl });
  try {
    const info = await (await jetstreamManager(nc)).consumers.info(stream, durable).catch(() => undefined);
    return info ? info.num_pending + info.num_ack_pending : -1;
  } finally {
    await nc.close();
  }
}

/** A Redis client for tests. */
export function redisClient(): Redis {
  return new Redis(redisUrl);
}

/** Deletes Redis keys (test cleanup), the ones matching `pattern` too (a KEYS pattern, e.g. `prefix:*`). */
export async function deleteRedisKeys(keys: readonly string[], pattern?: string): Promise<void> {
  const r = redisClient();
  try {
    const all = [...keys, ...(pattern === undefined ? [] : await r.keys(pattern))];
    if (all.length > 0) await r.del(...all);
  } finally {
    r.disconnect();
  }
}

/** XADDs payloads as the `data` field of entries. */
export async function publishRedis(key: string, payloads: readonly (string | Buffer)[]): Promise<void> {
  const r = redisClient();
  try {
    for (let i = 0; i < payloads.length; i += 1000) {
      const p = r.pipeline();
      for (const payload of payloads.slice(i, i + 1000)) p.xadd(key, "*", "data", payload);
      await p.exec();
    }
  } finally {
    r.disconnect();
  }
}

/** Entries a consumer group has not acknowledged (its lag plus its pending entries); -1 before it exists. */
export async function redisUnacknowledged(key: string, group: string): Promise<number> {
  const r = redisClient();
  try {
    const groups = (await r.xinfo("GROUPS", key).catch(() => [])) as unknown[][];
    for (const g of groups) {
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < g.length; i += 2) info.set(String(g[i]), g[i + 1]);
      if (info.get("name") === group) return Number(info.get("pending") ?? 0) + Number(info.get("lag") ?? 0);
    }
    return -1;
  } finally {
    r.disconnect();
  }
}

/** `count` small JSON records `{ id, name, amount }`, every `poisonEvery`-th one not JSON (0: none). */
export function eventPayloads(count: number, poisonEvery = 0, from = 1): string[] {
  const out: string[] = [];
  for (let id = from; id < from + count; id++) {
    out.push(
      poisonEvery > 0 && id % poisonEvery === 0
        ? `not json #${id}`
        : JSON.stringify({ id, name: `customer ${id}`, amount: id % 1000, note: "x".repeat(120) }),
    );
  }
  return out;
}
