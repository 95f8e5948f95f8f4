import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { coordinatedLogStorage } from "../../src/lake/coordinated-log-storage.js";
import { commitPath, listDeltaLog, readCommit } from "../../src/lake/delta-log.js";
import { loadSnapshot, registerDeltaView, writeDelta } from "../../src/lake/index.js";
import { s3Storage } from "../../src/storage/s3-storage.js";
import type { Storage } from "../../src/storage/storage.js";
import { postgresCommitCoordinator } from "../../src/warehouse/postgres-commit-coordinator.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";
import { startS3Server, type TestS3Server } from "../support/s3-server.js";

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL("./delta-commit-child.mjs", import.meta.url));
const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);
const BUCKET = "coordinated-lake";
const WRITERS = 4;
const COMMITS = 6;
const ROWS = 10;

describe.skipIf(!available)(
  "Delta commits from several processes on S3, coordinated through PostgreSQL",
  () => {
    let s3: TestS3Server;
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let instance: DuckDBInstance;
    let con: DuckDBConnection;
    let lake: Storage;
    beforeAll(async () => {
      s3 = await startS3Server({ buckets: [BUCKET] });
      db = await createTestDatabase();
      instance = await DuckDBInstance.create(":memory:");
      con = await instance.connect();
      lake = coordinatedLogStorage(
        s3Storage({ ...s3.s3Options, bucket: BUCKET }),
        postgresCommitCoordinator(db.url),
      );
    }, 60_000);
    afterAll(async () => {
      con?.closeSync();
      instance?.closeSync();
      await s3?.stop();
      await db?.cleanup();
    });

    it("4 processes appending at once: contiguous versions, every add kept, rows = sum of writes", async () => {
      const table = { storage: lake, path: "events" };
      await writeDelta(con, table, "SELECT (-1)::BIGINT AS id, -1 AS writer");
      const outputs = await Promise.all(
        Array.from({ length: WRITERS }, (_, writer) =>
          run(process.execPath, [
            CHILD,
            JSON.stringify({
              s3: s3.s3Options,
              bucket: BUCKET,
              table: "events",
              pgUrl: db.url,
              writer,
              commits: COMMITS,
              rows: ROWS,
            }),
          ]),
        ),
      );
      const versions = outputs.flatMap((o) => (JSON.parse(o.stdout) as { versions: number[] }).versions);
      const total = WRITERS * COMMITS;
      expect(versions.sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      const listing = await listDeltaLog(table);
      expect(listing.latestVersion).toBe(total);
      let adds = 0;
      for (let v = 0; v <= total; v++) {
        adds += (await readCommit(table, v)).filter((a) => a.add).length;
      }
      expect(adds).toBe(total + 1);
      const snapshot = await loadSnapshot(con, table);
      expect(snapshot.files).toHaveLength(total + 1);
      await registerDeltaView(con, table, "events_v");
      const [row] = (await con.runAndReadAll("SELECT count(*), count(DISTINCT id) FROM events_v")).getRows();
      expect(row).toEqual([BigInt(total * ROWS + 1), BigInt(total * ROWS + 1)]);
      // Every claim was completed and its temporary copy removed.
      const leftovers: string[] = [];
      for await (const e of lake.list("events/_delta_log/.tmp")) leftovers.push(e.path);
      expect(leftovers).toEqual([]);
    }, 120_000);

    it("a claim whose writer died before copying is completed by the next writer, which commits after it", async () => {
      const table = { storage: lake, path: "orphan" };
      await writeDelta(con, table, "SELECT 1::BIGINT AS id");
      // A writer that won version 1 in the coordinator and died before its copy reached the log.
      const coordinator = postgresCommitCoordinator(db.url);
      const dead = `{"commitInfo":{"operation":"WRITE"}}\n`;
      const raw = s3Storage({ ...s3.s3Options, bucket: BUCKET });
      await raw.writeFile("orphan/_delta_log/.tmp/00000000000000000001.json.dead", dead);
      const log = `s3://${BUCKET}/orphan/_delta_log`;
      expect(
        await coordinator.claim(
          log,
          "00000000000000000001.json",
          "orphan/_delta_log/.tmp/00000000000000000001.json.dead",
        ),
      ).toBe(true);
      expect(await raw.stat(commitPath(table, 1))).toBeNull();

      const result = await writeDelta(con, table, "SELECT 2::BIGINT AS id");
      expect(result.version).toBe(2);
      expect((await raw.readFile(commitPath(table, 1))).toString()).toBe(dead);
      expect(await coordinator.find(log, "00000000000000000001.json")).toMatchObject({ complete: true });
      const snapshot = await loadSnapshot(con, table);
      expect(snapshot.version).toBe(2);
      expect(snapshot.files).toHaveLength(2);
    }, 60_000);

    it("completeLog completes a claim a dead writer left, so a commit's reads see it before it writes", async () => {
      const table = { storage: lake, path: "settled" };
      await writeDelta(con, table, "SELECT 1::BIGINT AS id", { appId: "p", txnVersion: 1 });
      const coordinator = postgresCommitCoordinator(db.url);
      const claimed = `{"txn":{"appId":"p","version":2,"lastUpdated":0}}\n`;
      const raw = s3Storage({ ...s3.s3Options, bucket: BUCKET });
      const tmp = "settled/_delta_log/.tmp/00000000000000000001.json.dead";
      await raw.writeFile(tmp, claimed);
      expect(
        await coordinator.claim(`s3://${BUCKET}/settled/_delta_log`, "00000000000000000001.json", tmp),
      ).toBe(true);
      // Unseen until completed: a txn taken past the table's now would be 2, the dead writer's own.
      expect((await loadSnapshot(con, table)).txns.get("p")).toBe(1);
      await lake.completeLog!("settled/_delta_log");
      expect((await loadSnapshot(con, table)).txns.get("p")).toBe(2);
    }, 60_000);
  },
);
