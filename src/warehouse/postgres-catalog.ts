import { postgresDialect } from "../plan/postgres-dialect.js";
import { quoteLiteral } from "../plan/sql-text.js";
import { catalogDdl } from "./catalog-schema.js";
import { rowToLedger, runReportUpdateSql, watermarkSelectSql } from "./catalog-sql.js";
import type { PostgresDriver } from "./postgres-driver.js";
import { inPostgresTransaction } from "./postgres-transaction.js";
import { backfillQuarantineCounts } from "./quarantine-counts.js";
import { backfillRunTotals } from "./run-totals.js";
import { streamClaimsMigrationSql } from "./stream-claims-migration.js";
import { historySql, toLoadRecords } from "./table-history.js";
import type { PublishResult, Warehouse } from "./warehouse.js";

/**
 * Creates the catalog (schema `sluice`) where it is missing, under an advisory lock so that processes
 * starting at once do not race; read-only, only checks that the server answers.
 *
 * @example
 * await preparePostgresCatalog(driver, { readOnly: false });
 */
export async function preparePostgresCatalog(
  driver: PostgresDriver,
  options: { readonly readOnly?: boolean | undefined },
): Promise<void> {
  if (options.readOnly) {
    await driver.resilient("connect", () => driver.pool.query("SELECT 1"));
    return;
  }
  await driver.resilient("catalog setup", () =>
    driver.withClient((client) =>
      inPostgresTransaction(client, async () => {
        await client.query("SELECT pg_advisory_xact_lock(hashtext('sluice:catalog'))");
        for (const ddl of catalogDdl(postgresDialect)) await client.query(ddl);
        for (const sql of streamClaimsMigrationSql()) await client.query(sql);
        await backfillQuarantineCounts(async (sql) => (await client.query(sql)).rows);
        await backfillRunTotals(async (sql) => (await client.query(sql)).rows);
      }),
    ),
  );
}

/** The catalog reads of a PostgreSQL warehouse, plus what a retried publish asks of it. */
export interface PostgresCatalog
  extends Pick<Warehouse, "loadsOf" | "nextSequence" | "watermark" | "history" | "updateRunReport"> {
  /** The numbers of a run already committed (an earlier attempt whose connection broke after COMMIT). */
  committed(runId: string): Promise<PublishResult | undefined>;
}

/**
 * Catalog reads over the driver's pool (each retried on its own).
 *
 * @example
 * const catalog = postgresCatalog(driver); await catalog.nextSequence("orders");
 */
export function postgresCatalog(driver: PostgresDriver): PostgresCatalog {
  const query = driver.query;
  return {
    async loadsOf(pipeline, sha256) {
      const rows = await query(
        `SELECT * FROM sluice.files WHERE pipeline = ${quoteLiteral(pipeline)} AND sha256 = ${quoteLiteral(sha256)} AND status = 'loaded' ORDER BY received_at`,
      );
      return rows.map(rowToLedger);
    },
    async nextSequence(pipeline, atLeast = 1) {
      // Runs of one pipeline on several workers start at once: the counter row is taken under its row
      // lock, so no two get one number. Seeded past the runs already recorded (a catalog from before it).
      // A retry after a broken connection may skip a number; gaps are harmless, repeats are not.
      const p = quoteLiteral(pipeline);
      const floor = `greatest((SELECT coalesce(max(seq), 0) + 1 FROM sluice.runs WHERE pipeline = ${p}), ${Math.max(1, Math.trunc(atLeast))})`;
      const rows = await query(
        `INSERT INTO sluice.run_sequences AS s (pipeline, seq) VALUES (${p}, ${floor}) ON CONFLICT (pipeline) DO UPDATE SET seq = greatest(s.seq + 1, EXCLUDED.seq) RETURNING seq`,
      );
      return Number(rows[0]?.seq);
    },
    async watermark(pipeline) {
      const rows = await query(watermarkSelectSql(pipeline));
      return rows[0] ? String(rows[0].value) : null;
    },
    async history(table) {
      return toLoadRecords(await query(historySql(table)));
    },
    async updateRunReport(runId, report) {
      await driver.resilient(`report of run ${runId}`, () =>
        driver.withClient((client) => client.query(runReportUpdateSql(runId, report, postgresDialect))),
      );
    },
    async committed(runId) {
      const rows = await query(
        `SELECT r.run_id, l.inserted, l.updated, l.deleted, l.reconciliation FROM sluice.runs r LEFT JOIN sluice.loads l ON l.run_id = r.run_id WHERE r.run_id = ${quoteLiteral(runId)}`,
      );
      const row = rows[0];
      if (!row) return undefined;
      return {
        inserted: Number(row.inserted ?? 0),
        updated: Number(row.updated ?? 0),
        deleted: Number(row.deleted ?? 0),
        reconciliation: (row.reconciliation as PublishResult["reconciliation"]) ?? null,
        skippedDuplicates: [],
      };
    },
  };
}
