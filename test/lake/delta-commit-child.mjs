// One writer process of delta-coordinated-commits.test.ts: appends `commits` small batches to one Delta
// table on S3, committing through the PostgreSQL coordinator (or not, with "uncoordinated").
import { DuckDBInstance } from "@duckdb/node-api";
import { coordinatedLogStorage } from "../../dist/lake/coordinated-log-storage.js";
import { writeDelta } from "../../dist/lake/delta-writer.js";
import { s3Storage } from "../../dist/storage/s3-storage.js";
import { postgresCommitCoordinator } from "../../dist/warehouse/postgres-commit-coordinator.js";

const { s3, bucket, table, pgUrl, writer, commits, rows } = JSON.parse(process.argv[2]);
const raw = s3Storage({ ...s3, bucket });
const storage = pgUrl ? coordinatedLogStorage(raw, postgresCommitCoordinator(pgUrl)) : raw;
const instance = await DuckDBInstance.create(":memory:");
const con = await instance.connect();
const versions = [];
for (let c = 0; c < commits; c++) {
  const base = (writer * commits + c) * rows;
  const result = await writeDelta(
    con,
    { storage, path: table },
    `SELECT (range + ${base})::BIGINT AS id, ${writer} AS writer FROM range(${rows})`,
  );
  versions.push(result.version);
}
con.closeSync();
instance.closeSync();
process.stdout.write(JSON.stringify({ versions }));
