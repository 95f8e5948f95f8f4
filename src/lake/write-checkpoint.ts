import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { quoteLiteral } from "../plan/sql-text.js";
import { scratchDirAsync } from "../storage/scratch-dir.js";
import type { DeltaAction } from "./delta-log.js";
import type { DeltaSnapshot } from "./delta-snapshot.js";
import { tableFile } from "./lake-table.js";

const STRING_MAP = "MAP(VARCHAR, VARCHAR)";
const CHECKPOINT_COLUMNS = {
  txn: "STRUCT(appId VARCHAR, version BIGINT, lastUpdated BIGINT)",
  add: `STRUCT(path VARCHAR, partitionValues ${STRING_MAP}, size BIGINT, modificationTime BIGINT, dataChange BOOLEAN, stats VARCHAR, tags ${STRING_MAP})`,
  remove: `STRUCT(path VARCHAR, deletionTimestamp BIGINT, dataChange BOOLEAN, extendedFileMetadata BOOLEAN, partitionValues ${STRING_MAP}, size BIGINT)`,
  metaData: `STRUCT(id VARCHAR, "name" VARCHAR, description VARCHAR, format STRUCT(provider VARCHAR, options ${STRING_MAP}), schemaString VARCHAR, partitionColumns VARCHAR[], configuration ${STRING_MAP}, createdTime BIGINT)`,
  protocol:
    "STRUCT(minReaderVersion INTEGER, minWriterVersion INTEGER, readerFeatures VARCHAR[], writerFeatures VARCHAR[])",
} as const;

/**
 * Writes a classic single-file Parquet checkpoint of `snapshot` as
 * `_delta_log/<version>.checkpoint.parquet` and updates `_delta_log/_last_checkpoint`.
 *
 * @example
 * await writeCheckpoint(con, snapshot);
 */
export async function writeCheckpoint(con: DuckDBConnection, snapshot: DeltaSnapshot): Promise<void> {
  const rows: DeltaAction[] = [{ protocol: snapshot.protocol }, { metaData: snapshot.metadata }];
  for (const [appId, version] of snapshot.txns) rows.push({ txn: { appId, version } });
  for (const add of snapshot.files) {
    const { deletionVector: _dv, ...rest } = add;
    rows.push({ add: { ...rest, dataChange: false } });
  }
  for (const remove of snapshot.tombstones) {
    rows.push({
      remove: {
        path: remove.path,
        deletionTimestamp: remove.deletionTimestamp ?? null,
        dataChange: false,
        extendedFileMetadata: remove.extendedFileMetadata ?? null,
        partitionValues: remove.partitionValues ?? null,
        size: remove.size ?? null,
      },
    });
  }
  const dir = await scratchDirAsync("checkpoint-");
  try {
    const json = join(dir, "actions.jsonl");
    const parquet = join(dir, "checkpoint.parquet");
    await writeFile(json, rows.map((r) => JSON.stringify(r)).join("\n"));
    const columns = Object.entries(CHECKPOINT_COLUMNS)
      .map(([name, type]) => `${quoteLiteral(name)}: ${quoteLiteral(type)}`)
      .join(", ");
    await con.run(
      `COPY (SELECT txn, "add", "remove", metaData, protocol FROM read_json(${quoteLiteral(json)}, format = 'newline_delimited', columns = {${columns}}))
       TO ${quoteLiteral(parquet)} (FORMAT parquet, COMPRESSION snappy)`,
    );
    const name = `_delta_log/${String(snapshot.version).padStart(20, "0")}.checkpoint.parquet`;
    await snapshot.table.storage.putLocalFile(parquet, tableFile(snapshot.table, name));
    await snapshot.table.storage.writeFile(
      tableFile(snapshot.table, "_delta_log/_last_checkpoint"),
      JSON.stringify({ version: snapshot.version, size: rows.length }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
