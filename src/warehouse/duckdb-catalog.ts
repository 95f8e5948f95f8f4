import { historyCatalogDdl } from "./catalog-sql.js";

/** DDL of the catalog Sluice keeps inside a DuckDB warehouse (schema `sluice`). */
export const duckdbCatalogDdl = [
  "CREATE SCHEMA IF NOT EXISTS sluice",
  `CREATE TABLE IF NOT EXISTS sluice.runs (
     run_id VARCHAR PRIMARY KEY, pipeline VARCHAR NOT NULL, seq BIGINT NOT NULL, status VARCHAR NOT NULL,
     started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ NOT NULL,
     rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, rows_malformed BIGINT, rows_duplicates BIGINT,
     error VARCHAR, report JSON NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS sluice.files (
     run_id VARCHAR NOT NULL, pipeline VARCHAR NOT NULL, path VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
     size BIGINT NOT NULL, status VARCHAR NOT NULL, rows_read BIGINT, rows_loaded BIGINT,
     archived_to VARCHAR, error VARCHAR, received_at TIMESTAMPTZ NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS sluice.quarantine (
     run_id VARCHAR NOT NULL, pipeline VARCHAR NOT NULL, file VARCHAR, line BIGINT,
     rules VARCHAR[] NOT NULL, reasons VARCHAR[] NOT NULL, "values" JSON, raw VARCHAR,
     quarantined_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
  `CREATE TABLE IF NOT EXISTS sluice.checks (
     run_id VARCHAR NOT NULL, pipeline VARCHAR NOT NULL, name VARCHAR NOT NULL, severity VARCHAR NOT NULL,
     failed BIGINT NOT NULL)`,
  ...historyCatalogDdl("duckdb"),
] as const;
