import type { DuckDBConnection } from "@duckdb/node-api";
import type { FileSourceConfig } from "../config/schema.js";
import { type CsvGroupRead, stageCsvGroup } from "../engine/stage-csv-group.js";
import type { StagedFile } from "../engine/stage-file.js";
import { digestOf } from "../integrity/hash-file.js";
import { formatFromName } from "../plan/landing-paths.js";
import { quoteIdent } from "../plan/sql-text.js";
import type { StorageEntry } from "../storage/storage.js";
import { readsAsGlob } from "./duckdb-read-path.js";
import { needsChecking, type RunContext, type RunMode } from "./run-context.js";

/** Files read together at most: bounds a group's statement, its views and the rows it holds. */
export const GROUP_MAX_FILES = 1000;
/** Bytes read together at most. */
export const GROUP_MAX_BYTES = 64 * 1024 * 1024;
/** Larger files are read alone: their own read costs little next to their rows. */
export const GROUP_FILE_MAX_BYTES = 1024 * 1024;

/**
 * Small files staged together, one `read_csv([...])` per group (see `stageCsvGroup`): a staging
 * shortcut inside the stage step, not a unit of work. Each file stays its own unit, with its own intake
 * (hash, ledger), verdict and archive path; the group only hands it its staged rows. A file the group
 * could not take is staged alone, as any other.
 */
export interface FilesTogether {
  /**
   * The staged rows of the unit at `index` when it is read with the files after it (the group is read
   * when its first file reaches the stage step); undefined: stage it alone.
   */
  staged(run: RunContext, mode: RunMode, index: number, read: GroupRead): Promise<StagedFile | undefined>;
  /** The group a staged file is a view of (its rows are shaped with the group's), if any. */
  groupOf(staged: StagedFile): CsvGroupRead | undefined;
  /**
   * Makes a file's staged view (`staged.table`) if its group has not made it yet: a group member's rows
   * are read through the group's table; its own view is made only where something reads the file alone.
   */
  materialize(con: DuckDBConnection, staged: StagedFile): Promise<void>;
  /** Drops every group's tables and views (one statement). */
  drop(con: DuckDBConnection): Promise<void>;
}

/** What a group needs to know of a unit before it is read (a `RunUnit` has it). */
export interface ListedUnit {
  readonly path: string;
  readonly size: number;
  readonly landing?: StorageEntry | undefined;
}

/** The file a unit reads: where, in which format, from which source. */
export interface GroupRead {
  readonly localPath: string;
  readonly format: string;
  readonly source: FileSourceConfig;
}

/** A fresh set of groups over an attempt's units (each attempt reads its files again). */
export function filesTogether(units: readonly ListedUnit[]): FilesTogether {
  const decided = new Map<number, CsvGroupRead | "alone">();
  const groups: CsvGroupRead[] = [];
  const byTable = new Map<string, CsvGroupRead>();
  const materialize = async (con: DuckDBConnection, staged: StagedFile): Promise<void> => {
    const group = byTable.get(staged.table);
    const sql = group?.unmade.get(staged.table);
    if (!group || sql === undefined) return;
    await con.run(sql);
    group.unmade.delete(staged.table);
    group.views.push(staged.table);
  };
  return {
    async staged(run, mode, index, read) {
      if (!groupable(run, mode) || read.format !== "csv") return undefined;
      if (!decided.has(index)) {
        const group = await readGroup(run, mode, units, index, read, decided);
        if (group) {
          groups.push(group);
          for (const staged of group.staged.values()) byTable.set(staged.table, group);
        }
      }
      const group = decided.get(index);
      if (group === undefined || group === "alone") return undefined;
      const unit = units[index];
      const staged = unit ? group.staged.get(unit.path) : undefined;
      // Derived columns are bound, and an incremental filter applied, on the file's own view.
      const { pipeline } = mode;
      if (staged && (Object.keys(pipeline.derive).length > 0 || pipeline.incremental)) {
        await materialize(run.con, staged);
      }
      return staged;
    },
    groupOf: (staged) => byTable.get(staged.table),
    materialize,
    async drop(con) {
      const statements = groups.flatMap((g) => [
        ...g.views.map((v) => `DROP VIEW IF EXISTS ${quoteIdent(v)}`),
        ...g.tables.map((t) => `DROP TABLE IF EXISTS ${quoteIdent(t)}`),
      ]);
      groups.length = 0;
      byTable.clear();
      if (statements.length > 0) await con.run(statements.join(";\n")).catch(() => undefined);
    },
  };
}

/**
 * Whether a run's files may be read together: rows that need no per-row position (no checks, no
 * dedupe: quarantine lines of checked rows come from each file's own read; no cdc ordering), read the
 * staged way, not a replay.
 */
function groupable(run: RunContext, mode: RunMode): boolean {
  return (
    !mode.singlePass &&
    !needsChecking(mode.pipeline) &&
    mode.pipeline.target.mode !== "cdc" &&
    run.query === undefined &&
    !run.options.replay &&
    process.env.SLUICE_FILES_TOGETHER !== "0"
  );
}

/** Whether a unit can join a group: a small local CSV landing file, not compressed. */
function joinable(run: RunContext, unit: ListedUnit, source: FileSourceConfig): string | undefined {
  const entry = unit.landing;
  if (!entry || entry.refused || entry.size === 0 || entry.size > GROUP_FILE_MAX_BYTES) return undefined;
  if ((source.format ?? formatFromName(entry.path)) !== "csv" || /\.(gz|gzip|zst|zstd)$/i.test(entry.path)) {
    return undefined;
  }
  const local = run.project.landing.localPath(entry.path);
  // A name DuckDB would expand as a glob is read alone, through a link of its own (see duckdbReadPath).
  return local === undefined || readsAsGlob(local) ? undefined : local;
}

/**
 * Reads the group starting at `index`: that unit and the joinable units after it not yet decided, up to
 * {@link GROUP_MAX_FILES} files and {@link GROUP_MAX_BYTES}. Every member is decided: in the group, or
 * alone. A group of one is no group.
 */
async function readGroup(
  run: RunContext,
  mode: RunMode,
  units: readonly ListedUnit[],
  index: number,
  read: GroupRead,
  decided: Map<number, CsvGroupRead | "alone">,
): Promise<CsvGroupRead | undefined> {
  const first = units[index];
  if (!first || !joinable(run, first, read.source)) {
    decided.set(index, "alone");
    return undefined;
  }
  const members = [
    { index, localPath: read.localPath, displayPath: first.path, tablePrefix: `sluice_f${index}` },
  ];
  let bytes = first.size;
  for (let i = index + 1; i < units.length && members.length < GROUP_MAX_FILES; i++) {
    const unit = units[i]!;
    if (decided.has(i)) continue;
    const local = joinable(run, unit, read.source);
    if (!local) continue;
    if (bytes + unit.size > GROUP_MAX_BYTES) break;
    bytes += unit.size;
    members.push({ index: i, localPath: local, displayPath: unit.path, tablePrefix: `sluice_f${i}` });
  }
  let group: CsvGroupRead | undefined;
  if (members.length > 1) {
    try {
      group = await stageCsvGroup(run.con, {
        members,
        source: read.source,
        columns: mode.pipeline.columns,
        naming: mode.pipeline.naming,
        groupPrefix: `sluice_g${index}`,
        // The group reads each member to see whether it fits: that read is its hash too (its intake,
        // later, takes it from `run.acquired` instead of reading the file again).
        onContent: (member, content) => {
          if (run.acquired.has(member.displayPath)) return;
          const digest = Promise.resolve(digestOf(content));
          run.acquired.set(member.displayPath, { localPath: member.localPath, digest, downloaded: false });
        },
      });
    } catch (error) {
      run.logger.info({ file: first.path, reason: (error as Error).message }, "files read alone");
    }
  }
  for (const m of members) decided.set(m.index, group?.staged.has(m.displayPath) ? group : "alone");
  if (group) {
    run.logger.info(
      { files: group.staged.size, alone: members.length - group.staged.size },
      "files read together",
    );
  }
  return group;
}
