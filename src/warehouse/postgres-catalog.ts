import { historyCatalogDdl } from "./catalog-sql.js";

/**
 * DDL of the catalog Sluice keeps in a PostgreSQL warehouse (schema `sluice`). The partial unique
 * index on the ledger makes a second load of the same content by the same pipeline impossible, whatever
 * the number of concurrent processes.
 */
export const postgresCatalogDdl = [
  "CREATE SCHEMA IF NOT EXISTS sluice",
  `CREATE TABLE IF NOT EXISTS sluice.runs (
     run_id text PRIMARY KEY, pipeline text NOT NULL, seq bigint NOT NULL, status text NOT NULL,
     started_at timestamptz NOT NULL, finished_at timestamptz NOT NULL,
     rows_read bigint, rows_loaded bigint, rows_quarantined bigint, rows_malformed bigint, rows_duplicates bigint,
     error text, report jsonb NOT NULL)`,
  "CREATE INDEX IF NOT EXISTS runs_pipeline ON sluice.runs (pipeline, started_at)",
  // The dashboard's newest-first pages of runs and of quarantined rows read these in order.
  "CREATE INDEX IF NOT EXISTS runs_started ON sluice.runs (started_at, run_id)",
  `CREATE TABLE IF NOT EXISTS sluice.files (
     run_id text NOT NULL, pipeline text NOT NULL, path text NOT NULL, sha256 text NOT NULL,
     size bigint NOT NULL, status text NOT NULL, rows_read bigint, rows_loaded bigint,
     archived_to text, error text, received_at timestamptz NOT NULL)`,
  "CREATE INDEX IF NOT EXISTS files_sha ON sluice.files (pipeline, sha256)",
  "CREATE UNIQUE INDEX IF NOT EXISTS files_loaded_once ON sluice.files (pipeline, sha256) WHERE status = 'loaded'",
  // Content can only repeat a loaded file of the same size: the lookup that decides whether a file is
  // hashed before it is read.
  "CREATE INDEX IF NOT EXISTS files_loaded_size ON sluice.files (pipeline, size) WHERE status = 'loaded'",
  `CREATE TABLE IF NOT EXISTS sluice.quarantine (
     run_id text NOT NULL, pipeline text NOT NULL, file text, line bigint,
     rules text[] NOT NULL, reasons text[] NOT NULL, "values" jsonb, raw text,
     quarantined_at timestamptz NOT NULL DEFAULT now())`,
  "CREATE INDEX IF NOT EXISTS quarantine_pipeline ON sluice.quarantine (pipeline, run_id)",
  "CREATE INDEX IF NOT EXISTS quarantine_newest ON sluice.quarantine (pipeline, quarantined_at, run_id)",
  `CREATE TABLE IF NOT EXISTS sluice.checks (
     run_id text NOT NULL, pipeline text NOT NULL, name text NOT NULL, severity text NOT NULL,
     failed bigint NOT NULL)`,
  ...historyCatalogDdl("postgres"),
  "CREATE INDEX IF NOT EXISTS loads_table ON sluice.loads (table_name, seq)",
] as const;
