import type { DuckDBConnection } from "@duckdb/node-api";
import type { TargetConfig } from "../config/schema.js";
import type { JsonRow, QueryBatch } from "../engine/duckdb-query.js";
import type { QueryStageRequest, StagedQuery } from "../engine/stage-query.js";
import type { SchemaChange } from "../plan/schema-plan.js";
import type { SqlDialect } from "../plan/sql-dialect.js";
import type { PositionRange } from "./position-ranges.js";

/** A child table of `nested: tables` as the publish takes it (see `splitNestedTables`; written by `publishChildTables`). */
export interface ChildBatch {
  /** The warehouse table. */
  readonly table: string;
  /** Engine table holding its rows. */
  readonly engineTable: string;
  /** Columns of the engine table not written (they hold deeper child tables' arrays). */
  readonly nestedColumns: readonly string[];
}

/** A CSV file a warehouse may copy as it is (see {@link PublishBatch.rawCopy}). */
export interface RawCsvCopy {
  /** The file the engine's view of the batch reads. */
  readonly path: string;
  readonly delimiter: string;
  readonly quote: string;
  readonly header: boolean;
  /** The file's columns, in order, as the batch names them. */
  readonly columns: readonly string[];
  /** Some column is a TIMESTAMP (values with sub-microsecond digits are looked for in the bytes). */
  readonly timestamps: boolean;
  /** The rows the file holds, guessed from its size (how the profile counts distinct values). */
  readonly estimatedRows: number;
  /**
   * Called once the copy stored its rows (or was refused, and why) and the engine's work beside the
   * write has settled: why the copied rows may differ from the engine's read of the file (they are then
   * copied the usual way), or undefined when they are the same rows.
   */
  verdict(outcome: { readonly stored: number } | { readonly refused: string }): Promise<string | undefined>;
}

/** What a warehouse can do, as data (callers branch on capabilities, never on the kind). */
export interface WarehouseCapabilities {
  /** Staging tables live in the warehouse itself (no copy between systems). */
  readonly stagesInPlace: boolean;
  /** Several processes may publish at once. */
  readonly concurrentWriters: boolean;
  /**
   * The engine connection is idle while the warehouse writes (the write runs on a server), so engine work
   * may overlap the write ({@link PublishBatch.alongsideWrite}).
   */
  readonly engineFreeDuringWrite: boolean;
  /** Text values may hold a NUL byte (PostgreSQL's `text` cannot: such rows are quarantined instead). */
  readonly textHoldsNul: boolean;
  /** Longest table or column name the warehouse keeps, in UTF-8 bytes (PostgreSQL: 63); none for DuckDB. */
  readonly maxIdentifierBytes: number | undefined;
}

/** One file's line in the ledger of a run. */
export interface LedgerEntry {
  readonly runId: string;
  readonly pipeline: string;
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
  readonly status: "loaded" | "skipped_duplicate" | "failed";
  readonly rowsRead: number;
  readonly rowsLoaded: number;
  readonly archivedTo: string | null;
  readonly error: string | null;
}

/** A run as stored in the catalog; `report` is the run's `--json` object. */
export interface RunRecord {
  readonly runId: string;
  readonly pipeline: string;
  readonly status: "succeeded" | "failed" | "skipped";
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly report: Readonly<Record<string, unknown>>;
}

/**
 * The stream positions a publish claims in its transaction (`sluice.stream_claims`, as ranges): each is
 * published once per pipeline, so a position another publish claimed first fails this one
 * (STREAM_CONFLICT), even between workers sharing one consumer. Claimed first in the transaction, before
 * any row is written. A warehouse shared by processes takes the pipeline's lock first whenever a publish
 * has a claim: the claim's overlap test relies on it.
 */
export interface PositionClaim {
  /** Per loaded ledger path (a stream batch), its positions as ranges; empty for a run of files. */
  readonly batches: readonly { readonly batch: string; readonly positions: readonly PositionRange[] }[];
  /**
   * Runs inside the transaction, under the pipeline's lock, once every position is claimed and before
   * anything else is written: the run's lake commit, so that the lake commits of one pipeline come one at
   * a time across processes, and a stream batch whose positions are taken never reaches the lake.
   */
  readonly afterClaim?: (() => Promise<void>) | undefined;
}

/** Everything one run commits, in one transaction. */
export interface PublishBatch {
  readonly run: RunRecord;
  readonly target: TargetConfig;
  /** SQL over the engine connection yielding the target rows (metadata columns included); undefined = no rows. */
  readonly rowsSql?: string | undefined;
  /**
   * True when `rowsSql` gives the same rows every time it is read (no `derive:` expressions, which may
   * call random() or now()): an append or replace may then read it in place instead of copying it first.
   */
  readonly rowsRepeatable?: boolean | undefined;
  /** Rows of earlier loads of the same content to remove first (`--force`). */
  readonly replaces: readonly { readonly runId: string; readonly path: string }[];
  readonly ledger: readonly LedgerEntry[];
  /**
   * SQL over the engine yielding quarantine rows with columns
   * run_id, pipeline, file, line, rules (VARCHAR[]), reasons (VARCHAR[]), values (JSON), raw (VARCHAR).
   */
  readonly quarantineSql?: string | undefined;
  readonly checks: readonly { readonly name: string; readonly severity: string; readonly failed: number }[];
  /** `schema_evolution` of the pipeline (default evolve). */
  readonly schemaEvolution?: "evolve" | "freeze" | "discard_columns" | undefined;
  /** Numeric columns whose batch sums are reconciled against the target after the load. */
  readonly sumColumns?: readonly string[] | undefined;
  /**
   * The batch's row count as its sources gave it (a database extract read in place: COPY's count), when
   * the batch is exactly those rows: with no sums to take, the target is reconciled against it and the
   * batch is not read to count it.
   */
  readonly sourceRows?: number | undefined;
  /** The incremental high-water mark this run reached, stored in the same transaction. */
  readonly watermark?: { readonly cursor: string; readonly value: string } | undefined;
  /**
   * Called (inside the publish) when another process loaded some of this run's files first: returns the
   * run record and ledger with those files as skipped_duplicate. Their rows are left out of the load.
   */
  readonly resolveDuplicates?:
    | ((paths: readonly string[]) => { run: RunRecord; ledger: readonly LedgerEntry[] })
    | undefined;
  /**
   * Single pass: `rowsSql` reads the source files itself (deferred reads), so the write is the only pass
   * over the data and the batch's numbers are known only after it. Called inside the transaction right
   * after the write with the number of rows written and a count of them per `_sluice_source_file` (read
   * through the publishing transaction, which alone sees them); returns the run record, ledger and
   * quarantine as they now stand. Throwing rolls the whole publish back. `loadedAnyOf` asks the ledger
   * through the publishing transaction (a pool of one connection has no other free meanwhile).
   */
  readonly completeAfterWrite?:
    | ((
        written: number,
        writtenByFile: () => Promise<ReadonlyMap<string, number>>,
        loadedAnyOf: (hashes: readonly string[]) => Promise<boolean>,
      ) => Promise<AfterWrite>)
    | undefined;
  /**
   * Columns the run knows hold one value in every row, with that value as text (a single pass: its
   * run id, load time and, for one file, the file). A warehouse that would otherwise read the batch to
   * find such columns takes these: reading a single pass's batch reads its files again.
   */
  readonly constantColumns?: ReadonlyMap<string, string> | undefined;
  /**
   * Engine work whose result belongs in the run record (the run's profile): where the engine is free
   * while the server writes ({@link WarehouseCapabilities.engineFreeDuringWrite}) it starts once the
   * batch is on the server and runs beside the write; elsewhere it runs after the write. Either way it
   * finishes before the run record is written, and what it returns is merged into the record's report.
   * Throwing rolls the publish back. `rows`: the batch's rows, when the engine counted them handing
   * them over (a single pass knows its rows only then).
   */
  readonly alongsideWrite?: ((rows?: number) => Promise<Readonly<Record<string, unknown>>>) | undefined;
  /**
   * A single-pass append of one plain CSV file whose rows are the file's own columns, untransformed: the
   * warehouse may stream the file's bytes into its own CSV reader (PostgreSQL `COPY`) instead of the
   * engine's export of them, keeping them only when {@link RawCsvCopy.verdict} finds the engine's read
   * (the profile beside the write) agreeing; otherwise the rows are copied the usual way.
   */
  readonly rawCopy?: RawCsvCopy | undefined;
  /**
   * `nested: tables`: child tables written in the same transaction, right after the target (see
   * `publishChildTables`); `rowsSql` then holds the parent's rows without the split columns.
   */
  readonly children?: readonly ChildBatch[] | undefined;
  /** Stream positions claimed first in the transaction (see {@link PositionClaim}). */
  readonly claim?: PositionClaim | undefined;
}

/** What a single-pass publish learned from its write (see {@link PublishBatch.completeAfterWrite}). */
export interface AfterWrite {
  readonly run: RunRecord;
  readonly ledger: readonly LedgerEntry[];
  readonly quarantineSql?: string | undefined;
  /** The checks' results when the write enforced them (they replace {@link PublishBatch.checks}). */
  readonly checks?: PublishBatch["checks"] | undefined;
}

/** Source-versus-target comparison of one load. */
export interface Reconciliation {
  readonly source_rows: number;
  readonly target_rows: number;
  readonly sums: Readonly<Record<string, { readonly source: number; readonly target: number }>>;
  readonly ok: boolean;
  readonly mismatches: readonly string[];
}

/** Rows a publish touched. */
export interface PublishResult {
  readonly inserted: number;
  readonly updated: number;
  readonly deleted: number;
  readonly reconciliation: Reconciliation | null;
  /** Columns the load added to or retyped in the target table (absent or empty: none). */
  readonly schemaChanges?: readonly SchemaChange[];
  /** Files another process had loaded first (reported skipped_duplicate). */
  readonly skippedDuplicates: readonly string[];
  /**
   * The write ran out of memory under the lower limit of a streamed write, rolled back, and ran again
   * under the run's limit (see withStreamedWriteMemory).
   */
  readonly retriedUnderFullMemory?: boolean;
}

/**
 * One load of a table: a row of `sluice.loads` (see catalog-schema.ts), as `sluice history` lists it
 * and as a publish or rollback writes it.
 */
export interface LoadRecord {
  readonly run_id: string;
  readonly pipeline: string;
  readonly table: string;
  readonly mode: string;
  readonly inserted: number;
  readonly updated: number;
  readonly deleted: number;
  /** Before-images kept for rollback. */
  readonly saved: number;
  /** ISO-8601. */
  readonly loaded_at: string;
  readonly rolled_back_by: string | null;
  /** Source-versus-target comparison, written with the load (`history` does not read it back). */
  readonly reconciliation?: Reconciliation | null;
}

/** What a rollback did. */
export interface RollbackResult {
  readonly run_id: string;
  readonly table: string;
  readonly to: string;
  /** Loads undone, newest first. */
  readonly undone: readonly string[];
  readonly deleted: number;
  readonly restored: number;
  /** `nested: tables`: the child tables rolled back with the table. */
  readonly children?: readonly ChildRollback[];
}

/** A child table rolled back with its parent (see {@link RollbackResult.children}). */
export interface ChildRollback {
  readonly table: string;
  readonly undone: readonly string[];
  readonly deleted: number;
  readonly restored: number;
}

/** What reading the catalog needs: a read-only slice of a {@link Warehouse}. */
export type CatalogReader = Pick<Warehouse, "kind" | "dialect" | "query" | "history">;

/** How a PostgreSQL warehouse's connection pool is used right now. */
export interface PoolStats {
  readonly total: number;
  readonly idle: number;
  readonly waiting: number;
  /** Connections handed out since the pool opened, and how long they were waited for (ms). */
  readonly checkouts: number;
  readonly wait_ms_total: number;
  readonly wait_ms_max: number;
}

/**
 * A warehouse: the catalog (runs, ledger, quarantine, checks) and the target tables.
 * Implementations: DuckDB (embedded file), PostgreSQL.
 */
export interface Warehouse {
  readonly kind: "duckdb" | "postgres";
  /** How this warehouse spells SQL (readonly data; see plan/sql-dialect.ts). */
  readonly dialect: SqlDialect;
  readonly capabilities: WarehouseCapabilities;
  /** DuckDB connection used for staging and shaping (the warehouse itself for DuckDB). */
  readonly engine: DuckDBConnection;
  /** Earlier successful loads of this content for the pipeline. */
  loadsOf(pipeline: string, sha256: string): Promise<readonly LedgerEntry[]>;
  /**
   * Which of `sizes` the pipeline has loaded a file of (content can only repeat a loaded file of the
   * same size, so a file of a new size may be read while it is hashed).
   */
  loadedSizesAmong(pipeline: string, sizes: readonly number[]): Promise<ReadonlySet<number>>;
  /** Whether the pipeline has loaded any of these contents (by SHA-256). */
  loadedAnyOf(pipeline: string, hashes: readonly string[]): Promise<boolean>;
  /** Whether the pipeline's latest run quarantined rows for its checks or dropped duplicates. */
  lastRunRemovedRows(pipeline: string): Promise<boolean>;
  /**
   * Takes the next run sequence number of a pipeline (1, 2, ...), at least `atLeast`. Unique per
   * pipeline even when runs of it start at once (on PostgreSQL a counter row taken atomically).
   */
  nextSequence(pipeline: string, atLeast?: number): Promise<number>;
  publish(batch: PublishBatch): Promise<PublishResult>;
  /** Replaces the stored report of a committed run (facts learned after the commit, like its profile). */
  updateRunReport(runId: string, report: Readonly<Record<string, unknown>>): Promise<void>;
  /**
   * Records a run that published no rows (failed before or during publish, or none to write: its stream
   * positions are still claimed, see {@link PositionClaim}).
   */
  recordRun(
    run: RunRecord,
    ledger: readonly LedgerEntry[],
    quarantineSql?: string,
    claim?: PositionClaim,
  ): Promise<void>;
  /**
   * Records that a stream pipeline published every position at or below `floor` (the stored floor only
   * grows) and prunes its claims at or below it, in one transaction (see stream-floor.ts); the claims
   * pruned.
   */
  recordStreamFloor(pipeline: string, floor: string): Promise<number>;
  /** Read-only catalog and user queries. */
  query(sql: string): Promise<JsonRow[]>;
  /**
   * A read-only user query, its rows streamed in batches (PostgreSQL: through a cursor in a READ ONLY
   * transaction). At least one batch, so an empty result still names its columns.
   */
  streamQuery(sql: string): AsyncGenerator<QueryBatch>;
  /**
   * Stages a warehouse source (`{ sql }` or `{ table }`, incremental filter included) into the engine as
   * `<tablePrefix>_stage`, shaped like a staged file. DuckDB runs the query in place; PostgreSQL runs it
   * on the server and streams the result into the engine.
   *
   * @example
   * const staged = await warehouse.stageSource({ source: { table: "orders" }, columns: {}, tablePrefix: "q0" });
   */
  stageSource(request: QueryStageRequest): Promise<StagedQuery>;
  /** Column names of a warehouse table (schema-qualified or not); undefined when it does not exist. */
  columnsOf(table: string): Promise<readonly string[] | undefined>;
  /** The stored incremental high-water mark of a pipeline (null before the first load). */
  watermark(pipeline: string): Promise<string | null>;
  /** Every load of a table, oldest first. */
  history(table: string): Promise<readonly LoadRecord[]>;
  /** Restores a table's content as it was right after the load of `toRunId`; recorded as run `runId`. */
  rollback(table: string, toRunId: string, runId: string): Promise<RollbackResult>;
  /**
   * A catalog reader on a second connection of the same open warehouse, seeing committed data only (the
   * embedded warehouse: lets a dashboard in the same process read while a run writes). Close it after use.
   */
  readonly reader?: () => Promise<CatalogReader & { close(): Promise<void> }>;
  /** The connection pool's use (PostgreSQL). */
  readonly poolStats?: () => PoolStats;
  close(): Promise<void>;
}
