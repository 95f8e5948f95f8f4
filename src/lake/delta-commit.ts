import type { DuckDBConnection } from "@duckdb/node-api";
import { SluiceError } from "../errors.js";
import {
  canonicalFileKey,
  commitPath,
  commitText,
  type DeltaAction,
  listDeltaLog,
  readCommit,
} from "./delta-log.js";
import { loadSnapshot } from "./delta-snapshot.js";
import { describeTable, type LakeTable } from "./lake-table.js";
import { writeCheckpoint } from "./write-checkpoint.js";

/** What a commit touched, for conflict detection against commits that won the race. */
export interface CommitIntent {
  /** "append" never conflicts with concurrent data changes; the others read the table. */
  readonly isolation: "append" | "read-all" | "read-partitions";
  /** Partition tuples read (JSON of values in partition-column order), for "read-partitions". */
  readonly partitions?: ReadonlySet<string>;
  readonly partitionColumns?: readonly string[];
  /** Our `txn` (skip when a concurrent commit already recorded this run). */
  readonly txn?: { readonly appId: string; readonly version: number };
}

/** Result of {@link commitActions}. */
export interface CommitOutcome {
  /** Committed version, or null when a concurrent writer already committed the same `txn`. */
  readonly version: number | null;
  readonly retries: number;
}

/**
 * Commits actions as the next version after `readVersion` by exclusively creating
 * `_delta_log/<version>.json`. When another writer won that version, reads the winning
 * commits, fails with LAKE_CONFLICT on a logical conflict, otherwise retries on top.
 * Writes a checkpoint every `checkpointInterval` versions.
 *
 * @example
 * const { version } = await commitActions(con, table, snapshot.version, actions, { isolation: "append" });
 */
export async function commitActions(
  con: DuckDBConnection,
  table: LakeTable,
  readVersion: number,
  actions: readonly DeltaAction[],
  intent: CommitIntent,
  options: { readonly maxRetries?: number; readonly checkpointInterval?: number } = {},
): Promise<CommitOutcome> {
  const maxRetries = options.maxRetries ?? 20;
  const ours = new Set(actions.flatMap((a) => (a.remove ? [canonicalFileKey(a.remove.path)] : [])));
  const createsTable = actions.some((a) => a.protocol) && readVersion < 0;
  let attempt = readVersion + 1;
  for (let retries = 0; ; retries++) {
    const stamped = actions.map((a) =>
      a.commitInfo ? { commitInfo: { ...a.commitInfo, timestamp: Date.now(), readVersion: attempt - 1 } } : a,
    );
    if (await table.storage.writeFile(commitPath(table, attempt), commitText(stamped), { exclusive: true })) {
      await maybeCheckpoint(con, table, attempt, options.checkpointInterval ?? 10);
      return { version: attempt, retries };
    }
    if (retries >= maxRetries) {
      throw new SluiceError(
        "LAKE_CONFLICT",
        `${describeTable(table)}: gave up committing after ${retries + 1} attempts; other writers keep winning`,
        { transient: true },
      );
    }
    const latest = (await listDeltaLog(table)).latestVersion;
    for (let v = attempt; v <= latest; v++) {
      const winner = await readCommit(table, v);
      if (intent.txn) {
        const txn = winner.find((a) => a.txn?.appId === intent.txn!.appId)?.txn;
        if (txn && Number(txn.version) >= intent.txn.version) return { version: null, retries };
      }
      const conflict = conflictReason(winner, intent, ours, createsTable);
      if (conflict) {
        throw new SluiceError(
          "LAKE_CONFLICT",
          `${describeTable(table)}: concurrent commit ${v} conflicts with this write (${conflict}); re-run to apply it on the new version`,
          { transient: true },
        );
      }
    }
    attempt = latest + 1;
  }
}

function conflictReason(
  winner: readonly DeltaAction[],
  intent: CommitIntent,
  ourRemoves: ReadonlySet<string>,
  createsTable: boolean,
): string | undefined {
  if (createsTable) return "the table was created concurrently";
  for (const action of winner) {
    if (action.metaData) return "it changed the table schema or properties";
    if (action.protocol) return "it changed the table protocol";
    if (action.remove && ourRemoves.has(canonicalFileKey(action.remove.path))) {
      return `both removed ${action.remove.path}`;
    }
    if (action.add && action.add.dataChange !== false) {
      if (intent.isolation === "read-all") return `it added ${action.add.path} to data this write replaces`;
      if (intent.isolation === "read-partitions") {
        const key = JSON.stringify(
          (intent.partitionColumns ?? []).map((c) => action.add!.partitionValues?.[c] ?? null),
        );
        if (intent.partitions?.has(key))
          return `it added ${action.add.path} to a partition this write replaces`;
      }
    }
  }
  return undefined;
}

async function maybeCheckpoint(
  con: DuckDBConnection,
  table: LakeTable,
  version: number,
  interval: number,
): Promise<void> {
  if (interval <= 0 || version === 0 || version % interval !== 0) return;
  try {
    const snapshot = await loadSnapshot(con, table, { version, checkReadable: false });
    await writeCheckpoint(con, snapshot);
  } catch {
    // A checkpoint is an optimization: the commit is durable without it, and readers fall back to JSON.
  }
}
