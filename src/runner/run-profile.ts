import type { DuckDBConnection } from "@duckdb/node-api";
import type { PipelineConfig } from "../config/schema.js";
import { describeColumns, queryRows } from "../engine/duckdb-query.js";
import { type Anomaly, detectAnomalies, HISTORY_WINDOW } from "../plan/anomalies.js";
import { maskedColumnNames } from "../plan/masking.js";
import { type Profile, profileSql, readProfile } from "../plan/profile.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import type { Warehouse } from "../warehouse/warehouse.js";

/** A run's profile as stored in its report: the table it describes and the per-column statistics. */
export interface RunProfile extends Profile {
  readonly table: string;
}

/**
 * Profiles the rows a run is about to publish (one aggregate pass; distinct counts are HyperLogLog
 * estimates) and compares it with the last runs of the pipeline (`history`, read from the warehouse
 * when not given: give it when the warehouse is busy publishing).
 *
 * @example
 * const { profile, anomalies } = await profileRun(con, warehouse, "orders", pipeline, rowsSql, "f_rows");
 */
export async function profileRun(
  con: DuckDBConnection,
  warehouse: Warehouse,
  pipelineName: string,
  pipeline: PipelineConfig,
  rowsSql: string,
  viewName: string,
  history?: readonly RunProfile[],
): Promise<{ profile: RunProfile; anomalies: Anomaly[] }> {
  await con.run(`CREATE OR REPLACE TEMP VIEW ${quoteIdent(viewName)} AS ${rowsSql}`);
  try {
    const columns = await describeColumns(con, quoteIdent(viewName));
    const row = (
      await queryRows(
        con,
        profileSql(viewName, columns, {
          approxDistinct: true,
          maskedColumns: maskedColumnNames(pipeline.columns),
        }),
      )
    )[0];
    const profile: RunProfile = {
      table: pipeline.target.table ?? pipeline.target.lake?.table ?? pipelineName,
      ...readProfile(columns, row ?? {}),
    };
    const past = history ?? (await profileHistory(warehouse, pipelineName, HISTORY_WINDOW));
    const anomalies = detectAnomalies(profile, past, pipeline.anomalies?.z_score ?? 3);
    return { profile, anomalies };
  } finally {
    await con.run(`DROP VIEW IF EXISTS ${quoteIdent(viewName)}`);
  }
}

/** Profiles of the pipeline's last successful runs, oldest first. */
export async function profileHistory(
  warehouse: Warehouse,
  pipeline: string,
  limit: number,
): Promise<RunProfile[]> {
  const rows = await warehouse.query(
    `SELECT report FROM sluice.runs WHERE pipeline = ${quoteLiteral(pipeline)} AND status = 'succeeded' ORDER BY started_at DESC LIMIT ${limit}`,
  );
  return rows
    .map((r) => (typeof r.report === "string" ? JSON.parse(r.report) : r.report) as { profile?: RunProfile })
    .flatMap((report) => (report?.profile ? [report.profile] : []))
    .reverse();
}
