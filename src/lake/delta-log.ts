import { SluiceError } from "../errors.js";
import type { StorageEntry } from "../storage/storage.js";
import { describeTable, type LakeTable, tableFile } from "./lake-table.js";

/** `protocol` action. */
export interface ProtocolAction {
  readonly minReaderVersion: number;
  readonly minWriterVersion: number;
  readonly readerFeatures?: readonly string[] | null;
  readonly writerFeatures?: readonly string[] | null;
}

/** `metaData` action. */
export interface MetadataAction {
  readonly id: string;
  readonly name?: string | null;
  readonly description?: string | null;
  readonly format: { readonly provider: string; readonly options: Readonly<Record<string, string>> };
  readonly schemaString: string;
  readonly partitionColumns: readonly string[];
  readonly configuration: Readonly<Record<string, string>>;
  readonly createdTime?: number | null;
}

/** `add` action. */
export interface AddAction {
  readonly path: string;
  readonly partitionValues: Readonly<Record<string, string | null>>;
  readonly size: number;
  readonly modificationTime: number;
  readonly dataChange: boolean;
  readonly stats?: string | null;
  readonly tags?: Readonly<Record<string, string>> | null;
  readonly deletionVector?: unknown;
}

/** `remove` action. */
export interface RemoveAction {
  readonly path: string;
  readonly deletionTimestamp?: number | null;
  readonly dataChange: boolean;
  readonly extendedFileMetadata?: boolean | null;
  readonly partitionValues?: Readonly<Record<string, string | null>> | null;
  readonly size?: number | null;
  readonly deletionVector?: unknown;
}

/** `txn` action (application transaction id, for idempotent writes). */
export interface TxnAction {
  readonly appId: string;
  readonly version: number;
  readonly lastUpdated?: number | null;
}

/** `commitInfo` action (free-form provenance). */
export interface CommitInfoAction {
  readonly timestamp?: number;
  readonly operation?: string;
  readonly operationParameters?: Readonly<Record<string, unknown>>;
  readonly [key: string]: unknown;
}

/** One line of a commit file (or one row of a checkpoint). */
export interface DeltaAction {
  readonly add?: AddAction;
  readonly remove?: RemoveAction;
  readonly metaData?: MetadataAction;
  readonly protocol?: ProtocolAction;
  readonly txn?: TxnAction;
  readonly commitInfo?: CommitInfoAction;
  readonly [other: string]: unknown;
}

/** A checkpoint found in `_delta_log`: classic (one part), multi-part, or v2 (uuid-named). */
export interface CheckpointRef {
  readonly version: number;
  readonly kind: "classic" | "multipart" | "v2";
  /** Storage paths of the parts, in part order. */
  readonly parts: readonly string[];
}

/** What `_delta_log` holds. */
export interface DeltaLogListing {
  readonly commits: ReadonlyMap<number, StorageEntry>;
  /** Complete checkpoints, newest first. */
  readonly checkpoints: readonly CheckpointRef[];
  readonly latestVersion: number;
}

/** Storage path of a commit file. */
export function commitPath(table: LakeTable, version: number): string {
  return tableFile(table, `_delta_log/${String(version).padStart(20, "0")}.json`);
}

/**
 * Lists `_delta_log`: commit files and complete checkpoints.
 * Throws LAKE_ERROR when the folder is missing or empty (not a Delta table).
 *
 * @example
 * const log = await listDeltaLog({ storage, path: "orders" });
 * console.log(log.latestVersion);
 */
export async function listDeltaLog(table: LakeTable): Promise<DeltaLogListing> {
  const commits = new Map<number, StorageEntry>();
  const multipart = new Map<string, { version: number; total: number; parts: Map<number, string> }>();
  const checkpoints: CheckpointRef[] = [];
  const prefix = tableFile(table, "_delta_log");
  for await (const entry of table.storage.list(prefix)) {
    const name = entry.path.slice(prefix.length + 1);
    if (name.includes("/")) continue;
    let m = /^(\d{20})\.json$/.exec(name);
    if (m) {
      commits.set(Number(m[1]), entry);
      continue;
    }
    m = /^(\d{20})\.checkpoint\.parquet$/.exec(name);
    if (m) {
      checkpoints.push({ version: Number(m[1]), kind: "classic", parts: [entry.path] });
      continue;
    }
    m = /^(\d{20})\.checkpoint\.(\d{10})\.(\d{10})\.parquet$/.exec(name);
    if (m) {
      const key = `${m[1]}.${m[3]}`;
      const group = multipart.get(key) ?? { version: Number(m[1]), total: Number(m[3]), parts: new Map() };
      group.parts.set(Number(m[2]), entry.path);
      multipart.set(key, group);
      continue;
    }
    m = /^(\d{20})\.checkpoint\.[0-9a-f-]{36}\.(json|parquet)$/i.exec(name);
    if (m) checkpoints.push({ version: Number(m[1]), kind: "v2", parts: [entry.path] });
  }
  for (const group of multipart.values()) {
    if (group.parts.size !== group.total) continue; // incomplete: a writer died mid-checkpoint
    const parts = [...group.parts.entries()].sort((a, b) => a[0] - b[0]).map(([, p]) => p);
    checkpoints.push({ version: group.version, kind: "multipart", parts });
  }
  checkpoints.sort((a, b) => b.version - a.version);
  if (commits.size === 0 && checkpoints.length === 0) {
    throw new SluiceError(
      "LAKE_ERROR",
      `${describeTable(table)}: not a Delta table (no commits in _delta_log); check the table path`,
    );
  }
  const latestVersion = Math.max(...commits.keys(), ...checkpoints.map((c) => c.version));
  return { commits, checkpoints, latestVersion };
}

/**
 * Reads one commit file as actions. A line that is not JSON fails with LAKE_ERROR naming file and line.
 *
 * @example
 * const actions = await readCommit(table, 0);
 */
export async function readCommit(table: LakeTable, version: number): Promise<DeltaAction[]> {
  const path = commitPath(table, version);
  let text: string;
  try {
    text = (await table.storage.readFile(path)).toString("utf8");
  } catch (error) {
    throw new SluiceError("LAKE_ERROR", `${path}: cannot read Delta commit ${version}`, { cause: error });
  }
  return parseCommitText(text, path);
}

/** Parses newline-delimited JSON actions; `where` names the file in errors. */
export function parseCommitText(text: string, where: string): DeltaAction[] {
  const actions: DeltaAction[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (error) {
      throw new SluiceError(
        "LAKE_ERROR",
        `${where}: line ${i + 1} is not valid JSON; the Delta log is corrupt (restore the file or remove the table)`,
        { cause: error },
      );
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new SluiceError("LAKE_ERROR", `${where}: line ${i + 1} is not a Delta action object`);
    }
    actions.push(parsed as DeltaAction);
  }
  return actions;
}

/**
 * Serializes actions as a commit file body (one JSON object per line).
 *
 * @example
 * commitText([{ commitInfo: { operation: "WRITE" } }]);
 */
export function commitText(actions: readonly DeltaAction[]): string {
  return `${actions.map((a) => JSON.stringify(a)).join("\n")}\n`;
}

/**
 * Canonical key of a data file path, so `file:/x/a%20b` and `/x/a b` match.
 *
 * @example
 * canonicalFileKey("file:///t/a%20b.parquet"); // "/t/a b.parquet"
 */
export function canonicalFileKey(path: string): string {
  let p = path;
  const file = /^file:(\/\/[^/]*)?(\/.*)$/.exec(p);
  if (file) p = file[2]!;
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}
