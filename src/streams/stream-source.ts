import { SluiceError } from "../errors.js";
import { redactUrls } from "../redact.js";

/** One message as the broker delivered it. */
export interface StreamMessage {
  /** Where it sits in the stream: a NATS stream sequence, a Redis entry id. The ledger knows it by this. */
  readonly position: string;
  /** The producer's id when it gave one (NATS `Nats-Msg-Id`), else the position. */
  readonly id: string;
  /** NATS subject or Redis stream key. */
  readonly subject: string;
  /** The payload as received. */
  readonly data: Uint8Array;
  /** When the broker stored it. */
  readonly timestamp: Date;
  /** Delivered before (a crash or a failed batch): its position may already be published. */
  readonly redelivered: boolean;
  /**
   * The position of the stream's message right before this one, when the broker vouches that none lies
   * between (Redis: the entry before it in one XREADGROUP `>` reply). Lets the claim of a batch's positions
   * take both in one range (see warehouse/position-ranges.ts).
   */
  readonly follows?: string | undefined;
}

/** When a batch closes: whichever limit is reached first. */
export interface BatchLimits {
  readonly maxRows: number;
  readonly maxBytes: number;
  readonly maxWaitMs: number;
}

/** How far behind the consumer is. */
export interface StreamLag {
  /** Messages not yet acknowledged (delivered or not). */
  readonly pending: number;
  /**
   * Age of the oldest message of the last pull (by broker timestamp) at the moment `lag()` is asked, ms
   * (null when the pull was empty). Measured then, beside `pending`, not when the pull ended: the worker
   * pulls the next batch while one publishes, so a batch may wait a whole publish between the two.
   */
  readonly oldestAgeMs: number | null;
}

/** When the oldest of `messages` reached the broker, ms since the epoch (null for none). Pure. */
export function oldestTimestampMs(messages: readonly StreamMessage[]): number | null {
  let oldest: number | null = null;
  for (const m of messages) {
    const at = m.timestamp.getTime();
    if (oldest === null || at < oldest) oldest = at;
  }
  return oldest;
}

/**
 * A message stream read in micro-batches (Benthos-style input): pull a batch, acknowledge its positions
 * once it is published, republish poison messages to a dead letter.
 */
export interface StreamSource {
  /** Where it reads, for messages: credentials left out. */
  readonly describe: string;
  /**
   * Connects; `notice` is told, for a human, when the connection is lost and when it is back (the client
   * reconnects by itself meanwhile, pulls and acks fail or wait).
   */
  connect(notice?: (message: string) => void): Promise<void>;
  /** The next batch: waits up to `maxWaitMs` for messages, returns early at `maxRows` or `maxBytes`. */
  pull(limits: BatchLimits, signal?: AbortSignal): Promise<StreamMessage[]>;
  /** Acknowledges pulled messages by position: the broker will not deliver them again. */
  ack(positions: readonly string[]): Promise<void>;
  /**
   * Gives back pulled messages that will not be published (a stop): NATS delivers them again at once
   * (a nak) instead of after `ack_wait`; a Redis entry stays pending (read first by the same consumer
   * name, claimed by another after `claim_idle`).
   */
  release(positions: readonly string[]): Promise<void>;
  /** Republishes messages to the configured dead letter (subject or key), headers naming their origin. */
  deadLetter(messages: readonly PoisonMessage[]): Promise<void>;
  lag(): Promise<StreamLag>;
  /**
   * The consumer's acknowledgement floor: a position at or below which every message of the consumer is
   * acknowledged (NATS: the consumer's `ack_floor`; Redis: the group's last delivered id, below its
   * oldest pending entry). Acks follow the publish, so every such position is published; null when the
   * broker does not say. The worker records it and prunes the ledger below it (runner/stream-prune.ts).
   */
  publishedThrough(): Promise<string | null>;
  close(): Promise<void>;
  /**
   * True when connecting created the consumer (a NATS durable), so that it delivers from the start of the
   * stream and marks every message redelivered: any may have been published under an earlier consumer.
   */
  readonly createdConsumer?: () => boolean;
  /**
   * Told, after {@link createdConsumer}, that the ledger held no position of the pipeline then: first
   * deliveries are no longer marked redelivered (until the consumer is created again). A message another
   * worker published since comes again marked by the broker, or is refused by the publish's claim.
   */
  readonly nothingPublishedBefore?: () => void;
}

/** A message that yields no record, with why. */
export interface PoisonMessage {
  readonly message: StreamMessage;
  readonly reason: string;
}

/**
 * A stream source's error: what failed, where (the source's description, credentials already redacted)
 * and the cause's message with any URL's credentials removed.
 *
 * @example
 * throw streamError("nats nats://host:4222 stream EVENTS", "connect", error);
 */
export function streamError(describe: string, what: string, error: unknown, transient = true): SluiceError {
  return new SluiceError(
    "STREAM_ERROR",
    `${describe}: ${what}: ${redactUrls(error instanceof Error ? error.message : String(error))}`,
    { transient, cause: error },
  );
}

/**
 * Each position once, in first-delivery order: a broker delivers a message again when its ack wait (NATS)
 * or claim idle time (Redis) runs out while a batch is still open, and a batch must not hold it twice.
 * Redelivered when any delivery was. Pure.
 */
export function oncePerPosition(messages: readonly StreamMessage[]): StreamMessage[] {
  const byPosition = new Map<string, StreamMessage>();
  for (const m of messages) {
    const seen = byPosition.get(m.position);
    if (!seen) byPosition.set(m.position, m);
    else if (m.redelivered && !seen.redelivered) byPosition.set(m.position, { ...seen, redelivered: true });
  }
  return [...byPosition.values()];
}
