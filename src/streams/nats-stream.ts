import {
  AckPolicy,
  type Consumer,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { connect, headers, type NatsConnection, nanos } from "@nats-io/transport-node";
import { parseDuration } from "../durations.js";
import { SluiceError } from "../errors.js";
import { redactUrl } from "../redact.js";
import {
  type BatchLimits,
  oldestTimestampMs,
  type PoisonMessage,
  type StreamLag,
  type StreamMessage,
  type StreamSource,
  streamError,
} from "./stream-source.js";

/** The `stream:` settings of a NATS source. */
export interface NatsStreamConfig {
  readonly url: string;
  readonly stream: string;
  readonly subject?: string | undefined;
  readonly durable: string;
  /** How long a pulled message may wait for its ack before JetStream delivers it again. */
  readonly ack_wait: string;
}

/**
 * A JetStream durable pull consumer (created when missing, explicit acks). Loaded by
 * {@link openStreamSource} with a dynamic import: the NATS client is not part of the CLI's start-up.
 */
export function natsStream(
  config: NatsStreamConfig,
  options: { readonly deadLetterSubject?: string | undefined; readonly maxAckPending: number },
): StreamSource {
  const describe = `nats ${redactUrl(config.url)} stream ${config.stream} consumer ${config.durable}`;
  let nc: NatsConnection | undefined;
  /** Pulled, not yet acknowledged: acks need the delivered message. */
  const inFlight = new Map<string, HeldMessage>();
  /** Broker timestamp of the last pull's oldest message, ms: its age is taken when the lag is asked. */
  let oldestAt: number | null = null;
  /** Payload size seen so far: how many messages a byte cap holds. */
  let averageSize: number | undefined;
  /**
   * This process created the durable (a first run, or it was deleted): it delivers from the start of the
   * stream, so any message may have been published by an earlier consumer although the broker does not
   * say it was delivered before. Its messages are marked redelivered: the ledger is asked about each.
   */
  let created = false;
  /** Tells the broker, while a batch is pulled and not yet acknowledged, that it is still being worked on. */
  let keepAlive: NodeJS.Timeout | undefined;
  const fail = (what: string, error: unknown, transient = true): SluiceError =>
    streamError(describe, what, error, transient);
  const connection = (): NatsConnection => {
    if (!nc) throw new SluiceError("INTERNAL", `${describe}: not connected`);
    return nc;
  };
  /** Creates the durable when it does not exist; true when it did so. */
  const ensureConsumer = async (jsm: JetStreamManager): Promise<boolean> => {
    const made = await ensureDurable(jsm, config, options.maxAckPending, fail);
    if (made) created = true;
    return made;
  };

  return {
    describe,
    async connect(notice) {
      const { servers, user, pass, token } = natsServer(config.url);
      try {
        nc = await connect({
          servers,
          name: "sluice",
          maxReconnectAttempts: -1,
          timeout: 5_000,
          ...(user !== undefined ? { user, pass } : {}),
          ...(token !== undefined ? { token } : {}),
        });
      } catch (error) {
        throw fail("cannot connect", error);
      }
      const jsm = await jetstreamManager(nc).catch((error: unknown) => {
        throw fail("JetStream is not enabled on this server", error, false);
      });
      await ensureConsumer(jsm);
      if (notice) watchConnection(nc, (message) => notice(`${describe}: ${message}`));
      keepAlive = keepHeldAlive(inFlight, parseDuration(config.ack_wait));
    },
    createdConsumer: () => created,
    nothingPublishedBefore: () => {
      created = false;
    },
    async pull(limits: BatchLimits, signal?: AbortSignal) {
      const js = jetstream(connection());
      const consumer = await js.consumers.get(config.stream, config.durable).catch(async (error: unknown) => {
        if (isApiError(error, JetStreamApiCodes.StreamNotFound)) throw streamGone(config, fail);
        if (!isApiError(error, JetStreamApiCodes.ConsumerNotFound)) {
          throw fail(`consumer ${config.durable} of stream ${config.stream}`, error);
        }
        // Deleted under a running worker: created again; what it had delivered unacknowledged comes again.
        inFlight.clear();
        // Creating it again can fail for a passing reason here (the connection): the pull is tried again.
        await ensureConsumer(await jetstreamManager(connection())).catch((failed: unknown) => {
          if (
            failed instanceof SluiceError &&
            failed.transient === false &&
            isApiError(failed.cause, JetStreamApiCodes.StreamNotFound)
          )
            throw streamGone(config, fail);
          throw fail(`consumer ${config.durable} of stream ${config.stream}`, failed);
        });
        throw fail(
          `consumer ${config.durable} of stream ${config.stream}`,
          new Error(
            "it was deleted: created again, delivering from the start of the stream; messages published before are recognised by the ledger and not published again",
          ),
        );
      });
      const state = { inFlight, averageSize, possiblyPublished: created };
      const messages = await fetchBatch(consumer, limits, state, fail, signal);
      averageSize = state.averageSize;
      oldestAt = oldestTimestampMs(messages);
      return messages;
    },
    async ack(positions) {
      for (const position of positions) {
        inFlight.get(position)?.msg.ack();
        inFlight.delete(position);
      }
      // Acks go out in order on one connection: a flush answered means the server has them all.
      await connection()
        .flush()
        .catch((error: unknown) => {
          throw fail("ack", error);
        });
    },
    async release(positions) {
      for (const position of positions) {
        inFlight.get(position)?.msg.nak();
        inFlight.delete(position);
      }
      await connection()
        .flush()
        .catch((error: unknown) => {
          throw fail("release", error);
        });
    },
    async deadLetter(poison: readonly PoisonMessage[]) {
      const subject = options.deadLetterSubject;
      if (!subject || poison.length === 0) return;
      const c = connection();
      for (const { message, reason } of poison) {
        const h = headers();
        h.set("Sluice-Subject", message.subject);
        h.set("Sluice-Position", message.position);
        h.set("Sluice-Message-Id", message.id);
        h.set("Sluice-Reason", reason.slice(0, 1000));
        c.publish(subject, message.data, { headers: h });
      }
      await c.flush();
    },
    async lag(): Promise<StreamLag> {
      const jsm = await jetstreamManager(connection());
      const info = await jsm.consumers.info(config.stream, config.durable);
      return {
        pending: info.num_pending + info.num_ack_pending,
        oldestAgeMs: oldestAt === null ? null : Date.now() - oldestAt,
      };
    },
    async publishedThrough() {
      const jsm = await jetstreamManager(connection());
      const floor = (await jsm.consumers.info(config.stream, config.durable)).ack_floor.stream_seq;
      return floor > 0 ? String(floor) : null;
    },
    async close() {
      clearInterval(keepAlive);
      inFlight.clear();
      await nc?.drain().catch(() => nc?.close());
      nc = undefined;
    },
  };
}

/** A pulled message not yet acknowledged, and when its ack wait last started (delivery or in-progress ack). */
interface HeldMessage {
  readonly msg: JsMsg;
  since: number;
}

/** What a pull carries from one batch to the next. */
interface PullState {
  /** Pulled, not yet acknowledged: acks need the delivered message. */
  readonly inFlight: Map<string, HeldMessage>;
  /** Payload size seen so far: how many messages a byte cap holds. */
  averageSize: number | undefined;
  /** Every message may have been published before (see `created` in natsStream). */
  readonly possiblyPublished: boolean;
}

/**
 * Fetches one batch: until `maxRows`, `maxBytes` or `maxWaitMs`, whichever comes first, or a short answer
 * (the stream is caught up). Each position once.
 */
async function fetchBatch(
  consumer: Consumer,
  limits: BatchLimits,
  state: PullState,
  fail: (what: string, error: unknown) => SluiceError,
  signal?: AbortSignal,
): Promise<StreamMessage[]> {
  const messages: StreamMessage[] = [];
  const inBatch = new Set<string>();
  let bytes = 0;
  const deadline = Date.now() + limits.maxWaitMs;
  while (messages.length < limits.maxRows && bytes < limits.maxBytes && !signal?.aborted) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    // The client takes a count or a byte cap, not both: ask for as many messages as the bytes left
    // hold at the sizes seen so far (a first, small ask learns them).
    if (messages.length > 0) state.averageSize = bytes / messages.length;
    const ask = Math.max(
      1,
      Math.min(
        limits.maxRows - messages.length,
        state.averageSize === undefined
          ? 1
          : Math.floor((limits.maxBytes - bytes) / Math.max(1, state.averageSize)),
      ),
    );
    const batch = await consumer
      .fetch({ max_messages: ask, expires: Math.max(1_000, left) })
      .catch((error: unknown) => {
        throw fail("pull", error);
      });
    // A fetch shorter than the server's 1 s minimum is stopped at max_wait, but only while nothing
    // came: stopping one mid-delivery would drop messages in transit until their ack wait ran out.
    const stop = () => batch.stop();
    let got = 0;
    const timer = setTimeout(() => {
      if (got === 0) stop();
    }, left);
    signal?.addEventListener("abort", stop, { once: true });
    try {
      for await (const m of batch) {
        const message = toStreamMessage(m, state.possiblyPublished);
        const seen = inBatch.has(message.position);
        // The latest delivery is the one to acknowledge.
        state.inFlight.set(message.position, { msg: m, since: Date.now() });
        // An ack wait that ran out while this batch was open delivers a message again: it is held once.
        if (seen) continue;
        inBatch.add(message.position);
        messages.push(message);
        bytes += m.data.length;
        got++;
        // Sizes vary: what the estimate let through beyond the cap is kept, the rest stays unasked.
        if (bytes >= limits.maxBytes) batch.stop();
      }
    } catch (error) {
      // Missed heartbeats end a fetch (a busy client or server): what it delivered is kept.
      if (!/heartbeats? missed/i.test(String(error)) || messages.length === 0) throw fail("pull", error);
      break;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", stop);
    }
    // A short answer means the stream is caught up: the batch closes now.
    if (got < ask) break;
  }
  return messages;
}

/** Tells of a lost connection once (not each reconnect attempt), and when it is back. */
function watchConnection(nc: NatsConnection, notice: (message: string) => void): void {
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect")
        notice("connection lost; reconnecting (pulls wait, unacknowledged messages come again)");
      else if (status.type === "reconnect") notice("connected again");
    }
  })().catch(() => undefined);
}

function toStreamMessage(m: JsMsg, possiblyPublished: boolean): StreamMessage {
  const position = String(m.seq);
  return {
    position,
    id: m.headers?.get("Nats-Msg-Id") || position,
    subject: m.subject,
    data: m.data,
    timestamp: new Date(Math.floor(m.info.timestampNanos / 1e6)),
    redelivered: m.redelivered || possiblyPublished,
  };
}

/** Server address and credentials of a `nats://user:pass@host:port` URL (the client takes them apart). */
function natsServer(url: string): { servers: string; user?: string; pass?: string; token?: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SluiceError("CONFIG_INVALID", `${redactUrl(url)}: not a URL like nats://host:4222`);
  }
  const servers = `${parsed.protocol}//${parsed.host}`;
  const user = decodeURIComponent(parsed.username);
  const pass = decodeURIComponent(parsed.password);
  if (user && pass) return { servers, user, pass };
  if (user) return { servers, token: user };
  return { servers };
}

/** Creates the durable when it does not exist (explicit acks, deliver all); true when it did so. */
async function ensureDurable(
  jsm: JetStreamManager,
  config: NatsStreamConfig,
  maxAckPending: number,
  fail: (what: string, error: unknown, transient?: boolean) => SluiceError,
): Promise<boolean> {
  try {
    await jsm.consumers.info(config.stream, config.durable);
    return false;
  } catch {
    try {
      await jsm.consumers.add(config.stream, {
        durable_name: config.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(parseDuration(config.ack_wait)),
        max_ack_pending: maxAckPending,
        ...(config.subject ? { filter_subject: config.subject } : {}),
      });
    } catch (error) {
      throw fail(`cannot create consumer ${config.durable} on stream ${config.stream}`, error, false);
    }
    return true;
  }
}

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

/**
 * The stream was deleted under a running worker: a terminal error, not an outage to wait out. Sluice never
 * creates a stream, and one created again under the name numbers its messages from 1 again, which the
 * pipeline's ledger (its published positions and floor) would count as published already.
 */
function streamGone(
  config: NatsStreamConfig,
  fail: (what: string, error: unknown, transient?: boolean) => SluiceError,
): SluiceError {
  return fail(
    `stream ${config.stream}`,
    new Error(
      "it no longer exists (deleted): Sluice never creates a stream. A stream created again under this name numbers its messages from 1 again, which this pipeline's ledger counts as published: give the pipeline a new name, or delete its rows from sluice.stream_floors, sluice.stream_claims and sluice.stream_positions first",
    ),
    false,
  );
}

/**
 * Each third of `ackWaitMs`, sends an in-progress ack for the held messages that would otherwise reach
 * half their ack wait before the next round (see {@link inProgressAckDue}). A batch whose publish
 * outlasts `ack_wait` (a loaded machine, a warehouse retrying through a restart) would otherwise be
 * delivered again into the next pull, which then holds only messages the ledger recognises. A killed
 * worker stops sending them, and its messages come again one ack wait later.
 */
function keepHeldAlive(inFlight: ReadonlyMap<string, HeldMessage>, ackWaitMs: number): NodeJS.Timeout {
  const period = Math.max(250, Math.floor(ackWaitMs / 3));
  const timer = setInterval(() => {
    const now = Date.now();
    try {
      for (const held of inFlight.values()) {
        if (!inProgressAckDue(held.since, now, period, ackWaitMs)) continue;
        held.msg.working();
        held.since = now;
      }
    } catch {
      // The connection is closing or lost: the messages come again once their ack wait is out.
    }
  }, period);
  timer.unref();
  return timer;
}

/**
 * Whether a held message whose ack wait started at `since` needs an in-progress ack in the round at `now`:
 * yes when, left until the next round (`periodMs` later), it would have waited half its ack wait. So no
 * message goes more than half its ack wait (plus a late timer) without one, while the messages of a batch
 * pulled moments ago (most of what is held while batches flow) are not sent one each round: every
 * in-progress ack is a message to the server, as costly as an ack. Pure.
 *
 * @example
 * inProgressAckDue(0, 2_000, 10_000, 30_000) // false: 12 s < 15 s
 * inProgressAckDue(0, 6_000, 10_000, 30_000) // true
 */
export function inProgressAckDue(since: number, now: number, periodMs: number, ackWaitMs: number): boolean {
  return now - since + periodMs >= ackWaitMs / 2;
}
