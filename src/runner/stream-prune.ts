import { asSluiceError } from "../errors.js";
import { redactUrls } from "../redact.js";
import type { StreamSource } from "../streams/stream-source.js";
import type { Warehouse } from "../warehouse/warehouse.js";

/** Batches between two prunes of a pipeline's ledger (default; `SLUICE_STREAM_PRUNE_BATCHES` sets it). */
export const PRUNE_EVERY_BATCHES = 100;
/** At most this long between two prunes while batches are published. */
export const PRUNE_EVERY_MS = 60_000;

/** Keeps a stream pipeline's ledger of published positions from growing one row per message forever. */
export interface LedgerPruner {
  /** Told after each published batch: every {@link PRUNE_EVERY_BATCHES} batches or minute, prunes. */
  published(): Promise<void>;
  /**
   * Told when the stream is caught up (a pull found nothing): prunes once when batches were published
   * since the last prune, so a stream that goes quiet does not keep its last batches' claims until the
   * next burst.
   */
  idle(): Promise<void>;
}

/**
 * Prunes a pipeline's claimed positions periodically: asks the consumer's acknowledgement floor (every
 * position at or below it is published: acks follow the publish), records it as the pipeline's floor and
 * deletes the claims at or below it, in one transaction (Warehouse.recordStreamFloor). The floor counts as
 * published in their stead, so a consumer created again from the start of the stream still has its
 * redeliveries recognised. Best effort: a failure is told and the ledger pruned next time.
 *
 * @example
 * const pruner = ledgerPruner("events", source, (fn) => holder.use(fn), console.error);
 * await pruner.published();
 */
export function ledgerPruner(
  name: string,
  source: StreamSource,
  use: <T>(fn: (warehouse: Warehouse) => Promise<T>) => Promise<T>,
  event: (message: string) => void,
  everyBatches = pruneEveryBatches(),
): LedgerPruner {
  let batches = 0;
  let lastAt = Date.now();
  const prune = async () => {
    batches = 0;
    lastAt = Date.now();
    try {
      const floor = await source.publishedThrough();
      if (floor !== null) await use((w) => w.recordStreamFloor(name, floor));
    } catch (error) {
      event(
        `ledger of published positions not pruned (${redactUrls(asSluiceError(error).message)}); pruned later`,
      );
    }
  };
  return {
    async published() {
      batches++;
      if (batches < everyBatches && Date.now() - lastAt < PRUNE_EVERY_MS) return;
      await prune();
    },
    async idle() {
      if (batches > 0) await prune();
    },
  };
}

function pruneEveryBatches(): number {
  const n = Number(process.env.SLUICE_STREAM_PRUNE_BATCHES);
  return Number.isInteger(n) && n > 0 ? n : PRUNE_EVERY_BATCHES;
}
