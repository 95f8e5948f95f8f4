import type { DuckDBConnection } from "@duckdb/node-api";
import { SluiceError } from "../errors.js";
import {
  type AddAction,
  type CheckpointRef,
  canonicalFileKey,
  type DeltaAction,
  type DeltaLogListing,
  listDeltaLog,
  type MetadataAction,
  type ProtocolAction,
  type RemoveAction,
  readCommit,
} from "./delta-log.js";
import { type DeltaStructType, parseDeltaSchema } from "./delta-schema.js";
import { describeTable, type LakeTable } from "./lake-table.js";
import { readCheckpointActions } from "./read-checkpoint-actions.js";

/** The state of a Delta table at one version. */
export interface DeltaSnapshot {
  readonly table: LakeTable;
  readonly version: number;
  readonly protocol: ProtocolAction;
  readonly metadata: MetadataAction;
  readonly schema: DeltaStructType;
  /** Live data files. */
  readonly files: readonly AddAction[];
  /** Removed files still remembered by the log (for vacuum and checkpoints). */
  readonly tombstones: readonly RemoveAction[];
  /** Latest `txn` version per application id. */
  readonly txns: ReadonlyMap<string, number>;
}

/** Where to take the snapshot: latest (default), a version, or the last commit at or before a timestamp. */
export interface SnapshotOptions {
  readonly version?: number | undefined;
  readonly timestamp?: Date | string | number | undefined;
  /** Skip the reader-feature check (history/vacuum look at tables they will not read). Default true. */
  readonly checkReadable?: boolean;
}

/** Reader features Sluice reads correctly. */
const SUPPORTED_READER_FEATURES: ReadonlySet<string> = new Set(["timestampNtz", "vacuumProtocolCheck"]);

/**
 * Replays the Delta log (newest complete checkpoint + JSON commits) into a snapshot.
 *
 * @example
 * const snap = await loadSnapshot(con, { storage, path: "orders" }, { version: 3 });
 * console.log(snap.files.length);
 */
export async function loadSnapshot(
  con: DuckDBConnection,
  table: LakeTable,
  options: SnapshotOptions = {},
): Promise<DeltaSnapshot> {
  const log = await listDeltaLog(table);
  let target = options.version ?? log.latestVersion;
  if (options.timestamp !== undefined) target = await versionAtTimestamp(table, log, options.timestamp);
  if (target > log.latestVersion || target < 0) {
    throw new SluiceError(
      "LAKE_ERROR",
      `${describeTable(table)}: version ${target} does not exist (latest is ${log.latestVersion})`,
    );
  }
  const checkpoint = log.checkpoints.find((c) => c.version <= target && c.kind !== "v2");
  const start = checkpoint ? checkpoint.version + 1 : 0;
  for (let v = start; v <= target; v++) {
    if (!log.commits.has(v)) {
      const reason =
        checkpoint || v > 0 ? `commit ${v} is missing` : "commit 0 is missing and there is no checkpoint";
      throw new SluiceError(
        "LAKE_ERROR",
        `${describeTable(table)}: the Delta log is not contiguous (${reason}); cannot reconstruct version ${target}`,
      );
    }
  }
  const state = new ReplayState();
  if (checkpoint) state.apply(await readCheckpointActions(con, table, checkpoint.parts));
  for (let v = start; v <= target; v++) state.apply(await readCommit(table, v));
  const snapshot = state.finish(table, target);
  if (options.checkReadable !== false) assertReadable(snapshot);
  return snapshot;
}

class ReplayState {
  protocol: ProtocolAction | undefined;
  metadata: MetadataAction | undefined;
  readonly files = new Map<string, AddAction>();
  readonly tombstones = new Map<string, RemoveAction>();
  readonly txns = new Map<string, number>();

  apply(actions: readonly DeltaAction[]): void {
    for (const action of actions) {
      if (action.protocol) this.protocol = action.protocol;
      if (action.metaData) this.metadata = action.metaData;
      if (action.txn) this.txns.set(action.txn.appId, Number(action.txn.version));
      if (action.add) {
        const key = fileKey(action.add.path, action.add.deletionVector);
        this.files.set(key, normalizeAdd(action.add));
        this.tombstones.delete(key);
      }
      if (action.remove) {
        const key = fileKey(action.remove.path, action.remove.deletionVector);
        this.files.delete(key);
        this.tombstones.set(key, action.remove);
      }
    }
  }

  finish(table: LakeTable, version: number): DeltaSnapshot {
    const where = `${describeTable(table)} at version ${version}`;
    if (!this.protocol) throw new SluiceError("LAKE_ERROR", `${where}: the Delta log has no protocol action`);
    if (!this.metadata) throw new SluiceError("LAKE_ERROR", `${where}: the Delta log has no metaData action`);
    return {
      table,
      version,
      protocol: this.protocol,
      metadata: { ...this.metadata, partitionColumns: this.metadata.partitionColumns ?? [] },
      schema: parseDeltaSchema(this.metadata.schemaString),
      files: [...this.files.values()],
      tombstones: [...this.tombstones.values()],
      txns: this.txns,
    };
  }
}

function fileKey(path: string, dv: unknown): string {
  const d = dv as { storageType?: string; pathOrInlineDv?: string; offset?: number } | null | undefined;
  const dvId = d?.pathOrInlineDv ? `#${d.storageType}${d.pathOrInlineDv}@${d.offset ?? ""}` : "";
  return canonicalFileKey(path) + dvId;
}

function normalizeAdd(add: AddAction): AddAction {
  return {
    ...add,
    partitionValues: add.partitionValues ?? {},
    size: Number(add.size),
    modificationTime: Number(add.modificationTime),
  };
}

/**
 * Refuses snapshots whose protocol needs reader features Sluice lacks
 * (LAKE_UNSUPPORTED_FEATURE naming them) or whose protocol version is invalid (LAKE_ERROR).
 *
 * @example
 * assertReadable(snapshot);
 */
export function assertReadable(snapshot: DeltaSnapshot): void {
  const where = `${describeTable(snapshot.table)} (version ${snapshot.version})`;
  const { minReaderVersion, readerFeatures } = snapshot.protocol;
  if (!Number.isInteger(minReaderVersion) || minReaderVersion < 1 || minReaderVersion > 3) {
    throw new SluiceError(
      "LAKE_ERROR",
      `${where}: invalid Delta protocol: minReaderVersion ${minReaderVersion} is not a known reader version (1-3)`,
    );
  }
  const missing: string[] = [];
  if (minReaderVersion === 3) {
    for (const feature of readerFeatures ?? [])
      if (!SUPPORTED_READER_FEATURES.has(feature)) missing.push(feature);
  }
  const mapping = snapshot.metadata.configuration?.["delta.columnMapping.mode"];
  if (minReaderVersion >= 2 && mapping && mapping !== "none" && !missing.includes("columnMapping")) {
    missing.push("columnMapping");
  }
  if (snapshot.files.some((f) => f.deletionVector) && !missing.includes("deletionVectors")) {
    missing.push("deletionVectors");
  }
  if (missing.length > 0) {
    throw new SluiceError(
      "LAKE_UNSUPPORTED_FEATURE",
      `${where}: the table uses Delta reader feature${missing.length > 1 ? "s" : ""} ${missing.join(", ")}, which Sluice cannot read yet`,
    );
  }
}

/** Writer features Sluice honours when committing. */
const SUPPORTED_WRITER_FEATURES: ReadonlySet<string> = new Set([
  "appendOnly",
  "invariants",
  "timestampNtz",
  "vacuumProtocolCheck",
]);

/**
 * Refuses to write to tables whose protocol needs writer features Sluice lacks.
 *
 * @example
 * assertWritable(snapshot);
 */
export function assertWritable(snapshot: DeltaSnapshot): void {
  assertReadable(snapshot);
  const { minWriterVersion, writerFeatures } = snapshot.protocol;
  const where = `${describeTable(snapshot.table)} (version ${snapshot.version})`;
  const missing =
    minWriterVersion >= 7
      ? (writerFeatures ?? []).filter((f) => !SUPPORTED_WRITER_FEATURES.has(f))
      : minWriterVersion > 2
        ? [`writer version ${minWriterVersion} (constraints, generated columns, change data feed)`]
        : [];
  if (missing.length > 0) {
    throw new SluiceError(
      "LAKE_UNSUPPORTED_FEATURE",
      `${where}: writing needs Delta writer feature(s) ${missing.join(", ")}, which Sluice does not support`,
    );
  }
}

/** Commit timestamp: `commitInfo.timestamp` when present, else the commit file's modification time. */
export async function commitTimestamp(
  table: LakeTable,
  log: DeltaLogListing,
  version: number,
): Promise<number> {
  const entry = log.commits.get(version);
  if (!entry) return 0;
  const info = (await readCommit(table, version)).find((a) => a.commitInfo)?.commitInfo;
  return typeof info?.timestamp === "number" ? info.timestamp : entry.mtimeMs;
}

async function versionAtTimestamp(
  table: LakeTable,
  log: DeltaLogListing,
  when: Date | string | number,
): Promise<number> {
  const ms = when instanceof Date ? when.getTime() : typeof when === "number" ? when : Date.parse(when);
  if (Number.isNaN(ms)) throw new SluiceError("USAGE", `"${String(when)}" is not a valid timestamp`);
  const versions = [...log.commits.keys()].sort((a, b) => a - b);
  let found: number | undefined;
  for (const v of versions) {
    if ((await commitTimestamp(table, log, v)) <= ms) found = v;
    else break;
  }
  if (found === undefined) {
    throw new SluiceError(
      "LAKE_ERROR",
      `${describeTable(table)}: no version at or before ${new Date(ms).toISOString()} (the table is younger)`,
    );
  }
  return found;
}

export type { CheckpointRef };
