import { hostname } from "node:os";
import { Redis } from "ioredis";
import { parseDuration } from "../durations.js";
import { SluiceError } from "../errors.js";
import { redactUrl } from "../redact.js";
import { redisAckFloor } from "./redis-ack-floor.js";
import {
  type BatchLimits,
  oldestTimestampMs,
  type PoisonMessage,
  type StreamLag,
  type StreamMessage,
  type StreamSource,
  streamError,
} from "./stream-source.js";

/** The `stream:` settings of a Redis source. */
export interface RedisStreamConfig {
  readonly url: string;
  readonly key: string;
  readonly group: string;
  readonly claim_idle: string;
}

/** The entry field holding a message's JSON payload; an entry without it is read as its field map. */
export const PAYLOAD_FIELD = "data";

type Entry = [id: string, fields: string[]];

/**
 * A Redis Streams consumer group: XREADGROUP for new entries, this consumer's own pending entries first
 * (a restart), XAUTOCLAIM for entries another consumer left pending longer than `claim_idle`, XACK after
 * the publish. Loaded by {@link openStreamSource} with a dynamic import.
 */
export function redisStream(
  config: RedisStreamConfig,
  options: { readonly deadLetterKey?: string | undefined; readonly consumer?: string | undefined },
): StreamSource {
  const consumer = options.consumer ?? `${hostname()}-${process.pid}`;
  const describe = `redis ${redactUrl(config.url)} key ${config.key} group ${config.group}`;
  const claimIdleMs = parseDuration(config.claim_idle);
  let redis: Redis | undefined;
  let lastClaim = 0;
  /** Broker timestamp of the last pull's oldest message, ms: its age is taken when the lag is asked. */
  let oldestAt: number | null = null;
  /** Payload size seen so far: how many entries a byte cap holds. */
  const sizes: { average: number | undefined } = { average: undefined };
  /**
   * Pulled and not yet acknowledged: the worker pulls the next batch while one publishes, and the
   * pending entries (XREADGROUP 0, XAUTOCLAIM) would offer that batch's entries again.
   */
  const held = new Set<string>();
  /**
   * Where the next read of this consumer's pending entries (XREADGROUP from an id) starts; undefined when
   * none can be waiting unread. Pending entries not held are those of an earlier process under this
   * consumer name and those a failed pull or a stop let go: read once after connecting and after those,
   * not at every pull (each would list again, and parse, the batch still publishing).
   */
  let pendingFrom: string | undefined = "0";
  const fail = (what: string, error: unknown, transient = true): SluiceError =>
    streamError(describe, what, error, transient);
  const client = (): Redis => {
    if (!redis) throw new SluiceError("INTERNAL", `${describe}: not connected`);
    return redis;
  };
  return {
    describe,
    async connect(notice) {
      redis = new Redis(config.url, {
        lazyConnect: true,
        maxRetriesPerRequest: 3,
        enableOfflineQueue: true,
        connectTimeout: 5_000,
        retryStrategy: (times) => Math.min(times * 200, 2_000),
      });
      // Errors are reported by the commands that meet them; ioredis would print them otherwise.
      redis.on("error", () => undefined);
      try {
        await redis.connect();
      } catch (error) {
        redis.disconnect();
        redis = undefined;
        throw fail("cannot connect", error);
      }
      if (notice) watchConnection(redis, (message) => notice(`${describe}: ${message}`));
      try {
        await redis.xgroup("CREATE", config.key, config.group, "0", "MKSTREAM");
      } catch (error) {
        if (!/BUSYGROUP/.test(String(error))) throw fail(`cannot create group ${config.group}`, error, false);
      }
    },
    async pull(limits: BatchLimits, signal?: AbortSignal) {
      const r = client();
      const { messages, add, room, full } = batchCollector(limits, held, sizes);
      // max_wait counts from the start of the pull, the reads of pending entries included.
      const deadline = Date.now() + limits.maxWaitMs;
      try {
        // Entries this consumer was given before and never acknowledged (a crash, a failed pull).
        if (pendingFrom !== undefined) {
          const ask = room(100);
          const pending = await readGroup(r, config, consumer, ask, pendingFrom);
          add(toMessages(config.key, pending, true));
          // A short answer lists the last of them; otherwise the next pull reads on after these.
          pendingFrom = pending.length < ask ? undefined : pending[pending.length - 1]![0];
        }
        if (!full() && Date.now() - lastClaim >= Math.min(claimIdleMs, 1_000)) {
          lastClaim = Date.now();
          const claimed = (await r.xautoclaim(
            config.key,
            config.group,
            consumer,
            claimIdleMs,
            "0-0",
            "COUNT",
            room(100),
          )) as [string, Entry[]];
          add(toMessages(config.key, claimed[1], true));
        }
        while (!full() && !signal?.aborted) {
          const left = deadline - Date.now();
          if (left <= 0) break;
          // One entry answers a blocked read: keep reading until the batch is full or max_wait is up.
          const found = toMessages(
            config.key,
            await readGroup(r, config, consumer, room(), ">", Math.max(1, left)),
            false,
            true,
          );
          add(found);
        }
      } catch (error) {
        // What this pull took is not handed on: the next pull reads it again from the pending entries.
        for (const m of messages) held.delete(m.position);
        pendingFrom = "0";
        if (/NOGROUP/.test(String(error))) {
          held.clear();
          throw await recreateGroup(r, config, fail);
        }
        throw fail("pull", error);
      }
      oldestAt = oldestTimestampMs(messages);
      return messages;
    },
    async ack(positions) {
      const r = client();
      try {
        for (let i = 0; i < positions.length; i += 5_000) {
          await r.xack(config.key, config.group, ...positions.slice(i, i + 5_000));
        }
        for (const position of positions) held.delete(position);
      } catch (error) {
        throw fail("ack", error);
      }
    },
    async release(positions) {
      // Redis cannot take a delivery back: the entries stay pending for a consumer of this name or a claim.
      for (const position of positions) held.delete(position);
      pendingFrom = "0";
    },
    async deadLetter(poison: readonly PoisonMessage[]) {
      const key = options.deadLetterKey;
      if (key && poison.length > 0) await deadLetterEntries(client(), key, poison);
    },
    async lag(): Promise<StreamLag> {
      const pending = await groupPending(client(), config);
      return { pending, oldestAgeMs: oldestAt === null ? null : Date.now() - oldestAt };
    },
    publishedThrough: () => redisAckFloor(client(), config.key, config.group),
    async close() {
      held.clear();
      await redis?.quit().catch(() => redis?.disconnect());
      redis = undefined;
    },
  };
}

/** A batch being collected: each position once, none that an earlier batch of this source still holds. */
function batchCollector(limits: BatchLimits, held: Set<string>, sizes: { average: number | undefined }) {
  const messages: StreamMessage[] = [];
  const inBatch = new Set<string>();
  let bytes = 0;
  return {
    messages,
    add(found: readonly StreamMessage[]) {
      for (const m of found) {
        // XAUTOCLAIM may offer this consumer's own pending entries, already read with XREADGROUP 0.
        if (inBatch.has(m.position) || held.has(m.position)) continue;
        inBatch.add(m.position);
        held.add(m.position);
        messages.push(m);
        bytes += m.data.length;
      }
    },
    /** How many entries the bytes left hold at the sizes seen so far (`firstAsk` to learn them). */
    room(firstAsk = 1) {
      const rows = limits.maxRows - messages.length;
      if (messages.length > 0) sizes.average = bytes / messages.length;
      if (sizes.average === undefined) return Math.min(rows, firstAsk);
      return Math.min(rows, Math.max(1, Math.floor((limits.maxBytes - bytes) / Math.max(1, sizes.average))));
    },
    full: () => messages.length >= limits.maxRows || bytes >= limits.maxBytes,
  };
}

/** Tells of a lost connection once (not each reconnect attempt), and when it is back. */
function watchConnection(redis: Redis, notice: (message: string) => void): void {
  let lost = false;
  redis.on("reconnecting", () => {
    if (lost) return;
    lost = true;
    notice("connection lost; reconnecting (pulls wait or fail, unacknowledged entries come again)");
  });
  redis.on("ready", () => {
    if (!lost) return;
    lost = false;
    notice("connected again");
  });
}

async function readGroup(
  r: Redis,
  config: RedisStreamConfig,
  consumer: string,
  count: number,
  /** `>`: new entries; an id: this consumer's pending entries after it. */
  from: string,
  blockMs?: number,
): Promise<Entry[]> {
  const block = blockMs === undefined ? [] : ["BLOCK", String(Math.ceil(blockMs))];
  const reply = (await r.call(
    "XREADGROUP",
    "GROUP",
    config.group,
    consumer,
    "COUNT",
    String(Math.max(1, count)),
    ...block,
    "STREAMS",
    config.key,
    from,
  )) as [string, Entry[]][] | [string, Entry[]] | null;
  if (!reply || reply.length === 0) return [];
  // One stream read: ioredis gives [key, entries] (older versions [[key, entries]]).
  return (typeof reply[0] === "string" ? reply[1] : reply[0]?.[1]) as Entry[];
}

/** The payload of an entry: its `data` field, else its fields as one JSON object. */
function payloadOf(fields: readonly string[]): Uint8Array {
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === PAYLOAD_FIELD) return Buffer.from(fields[i + 1] ?? "");
    record[fields[i] ?? ""] = fields[i + 1] ?? "";
  }
  return Buffer.from(JSON.stringify(record));
}

/**
 * The entries as messages. `fresh`: a `>` read's reply, which holds every entry of the stream after the
 * group's last delivered one up to its last, in order (Redis serves one command at a time): each entry
 * follows the one before it in the reply, nothing between them.
 */
function toMessages(
  key: string,
  entries: readonly Entry[] | null | undefined,
  redelivered: boolean,
  fresh = false,
): StreamMessage[] {
  const messages: StreamMessage[] = [];
  let before: string | undefined;
  for (const [id, fields] of entries ?? []) {
    // XAUTOCLAIM and XREADGROUP 0 list entries deleted since (trimmed): their fields are null.
    if (!Array.isArray(fields)) continue;
    messages.push({
      position: id,
      id,
      subject: key,
      data: payloadOf(fields),
      timestamp: new Date(Number(id.split("-")[0])),
      redelivered,
      ...(fresh && before !== undefined ? { follows: before } : {}),
    });
    before = id;
  }
  return messages;
}

/**
 * The group (or the key) was deleted under a running worker: created again at the start of the stream,
 * as a new worker would. What it delivered before is forgotten by the broker; its entries come again
 * and the claim of their positions recognises those published before.
 */
async function recreateGroup(
  r: Redis,
  config: RedisStreamConfig,
  fail: (what: string, error: unknown) => SluiceError,
): Promise<SluiceError> {
  await r.xgroup("CREATE", config.key, config.group, "0", "MKSTREAM").catch(() => undefined);
  return fail(
    `group ${config.group} of key ${config.key}`,
    new Error(
      "it was deleted: created again, reading from the start of the stream; entries published before are recognised by the ledger and not published again",
    ),
  );
}

/** Republishes poison messages to the dead-letter stream `key`, with where each came from and why. */
async function deadLetterEntries(r: Redis, key: string, poison: readonly PoisonMessage[]): Promise<void> {
  const pipeline = r.pipeline();
  for (const { message, reason } of poison) {
    pipeline.xadd(
      key,
      "*",
      PAYLOAD_FIELD,
      Buffer.from(message.data),
      "key",
      message.subject,
      "position",
      message.position,
      "reason",
      reason.slice(0, 1000),
    );
  }
  await pipeline.exec();
}

/** Entries of the group not yet acknowledged: pending (delivered) plus not yet delivered (its lag). */
async function groupPending(r: Redis, config: RedisStreamConfig): Promise<number> {
  const groups = (await r.xinfo("GROUPS", config.key)) as unknown[][];
  for (const g of groups) {
    const info = new Map<string, unknown>();
    for (let i = 0; i + 1 < g.length; i += 2) info.set(String(g[i]), g[i + 1]);
    if (info.get("name") === config.group) {
      return Number(info.get("pending") ?? 0) + Number(info.get("lag") ?? 0);
    }
  }
  return 0;
}
