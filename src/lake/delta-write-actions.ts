import type { WrittenFile } from "./data-files.js";
import type { AddAction, DeltaAction, MetadataAction, ProtocolAction } from "./delta-log.js";

/** What a write commits, as {@link deltaWriteActions} needs it. */
export interface WriteToCommit {
  readonly mode: "append" | "overwrite" | "replace_partitions" | "merge";
  readonly options: {
    readonly keys?: readonly string[] | undefined;
    readonly appId?: string | undefined;
    readonly txnVersion?: number | undefined;
    readonly commitInfo?: Readonly<Record<string, unknown>> | undefined;
  };
  /** The write creates the table (its protocol is committed in any case). */
  readonly isNew: boolean;
  readonly plan: {
    readonly partitionColumns: readonly string[];
    readonly protocol: ProtocolAction;
    readonly protocolChanged: boolean;
    readonly metadata: MetadataAction | undefined;
  };
  readonly removed: readonly AddAction[];
  readonly written: readonly WrittenFile[];
  /** The commit's time, for commitInfo, txn and the removes. */
  readonly now: number;
}

/**
 * The actions of one write's commit, in Delta's order: commitInfo, protocol and metaData when new or
 * changed, the run's `txn`, the removes, then the adds.
 *
 * @example
 * const actions = deltaWriteActions({ mode: "append", options, isNew: true, plan, removed: [], written, now: Date.now() });
 */
export function deltaWriteActions(write: WriteToCommit): DeltaAction[] {
  const { mode, options, plan, removed, written, now } = write;
  const actions: DeltaAction[] = [
    {
      commitInfo: {
        timestamp: now,
        operation: mode === "merge" ? "MERGE" : "WRITE",
        operationParameters: {
          mode,
          partitionBy: JSON.stringify(plan.partitionColumns),
          ...(options.keys ? { keys: JSON.stringify(options.keys) } : {}),
        },
        isBlindAppend: mode === "append",
        engineInfo: "Sluice",
        operationMetrics: {
          numFiles: String(written.length),
          numOutputRows: String(written.reduce((s, w) => s + w.rows, 0)),
          numRemovedFiles: String(removed.length),
        },
        ...options.commitInfo,
      },
    },
  ];
  if (write.isNew) actions.push({ protocol: plan.protocol });
  else if (plan.protocolChanged) actions.push({ protocol: plan.protocol });
  if (plan.metadata) actions.push({ metaData: plan.metadata });
  if (options.appId !== undefined && options.txnVersion !== undefined) {
    actions.push({ txn: { appId: options.appId, version: options.txnVersion, lastUpdated: now } });
  }
  for (const file of removed) {
    actions.push({
      remove: {
        path: file.path,
        deletionTimestamp: now,
        dataChange: true,
        extendedFileMetadata: true,
        partitionValues: file.partitionValues,
        size: file.size,
      },
    });
  }
  for (const w of written) actions.push({ add: w.add });
  return actions;
}
