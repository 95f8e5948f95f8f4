import type { TypedColumn } from "../plan/schema-plan.js";
import type { PreparedBatch } from "./prepare-batch.js";
import type { WarehouseCapabilities } from "./warehouse.js";
import type { WriteBatchRequest } from "./write-batch.js";

/** What differs between warehouses while publishing. */
export interface PublishHooks {
  /** Makes `batch` available in the warehouse (returns the quoted stage table); see {@link WriteBatchRequest}. */
  stageBatch(batch: PreparedBatch, ...args: Parameters<WriteBatchRequest["stageBatch"]>): Promise<string>;
  /** A second connection for work beside the publish transaction (PostgreSQL); see {@link WriteBatchRequest}. */
  beside?: WriteBatchRequest["beside"];
  /** Copies `batch` straight into the target (PostgreSQL append/replace); see {@link WriteBatchRequest}. */
  copyRows?(
    batch: PreparedBatch,
    ...args: Parameters<NonNullable<WriteBatchRequest["copyRows"]>>
  ): Promise<number>;
  /**
   * Makes rows of the engine (`selectSql`) readable by the session's statements until the transaction
   * ends, as `name` where they must be copied; returns the relation to read them from.
   */
  shareRows(
    name: string,
    selectSql: string,
    columns: readonly (TypedColumn & { readonly engineType: string })[],
  ): Promise<string>;
  /**
   * The engine is idle while the warehouse writes ({@link WarehouseCapabilities.engineFreeDuringWrite}):
   * the batch's engine work beside the write starts during it rather than after.
   */
  readonly engineFreeDuringWrite: boolean;
  /** Writes the quarantine rows (SQL over the engine) into `sluice.quarantine`. */
  writeQuarantine(quarantineSql: string): Promise<void>;
}

/** The write hooks of {@link WriteBatchRequest} for one prepared batch (the parent's or a child table's). */
export function boundHooks(
  hooks: PublishHooks,
  batch: PreparedBatch,
): Pick<WriteBatchRequest, "stageBatch" | "copyRows"> {
  const copyRows = hooks.copyRows?.bind(hooks);
  return {
    stageBatch: (columns, options) => hooks.stageBatch(batch, columns, options),
    copyRows: copyRows ? (target, columns, options) => copyRows(batch, target, columns, options) : undefined,
  };
}
