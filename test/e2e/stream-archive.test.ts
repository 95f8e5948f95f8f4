import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { s3Storage } from "../../src/storage/s3-storage.js";
import { makeProject, sluice } from "../support/cli.js";
import { S3RVER_CREDENTIALS, startS3Server } from "../support/s3-server.js";
import { deleteRedisKeys, publishRedis, redisAvailable, redisUrl, uniqueName } from "../support/streams.js";

const available = await redisAvailable();
const PREFIX = uniqueName("sluice_archive_test");

function projectYaml(key: string, checks: boolean): string {
  return `warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  events:
    source:
      stream: { kind: redis, url: "${redisUrl}", key: "${PREFIX}:${key}", group: sluice }
      batch: { max_rows: 40, max_wait: 300ms }
    columns:
      id: { type: bigint }
${checks ? "    checks:\n      - { rule: not_null, columns: [name] }\n" : ""}    target: { table: events }
`;
}

async function query<T>(dir: string, sql: string): Promise<T[]> {
  const r = await sluice(["query", sql, "--json"], dir);
  expect(r.code, r.stderr).toBe(0);
  return r.json<T[]>();
}

const counts = (dir: string) =>
  query<{ n: number; ids: number }>(dir, "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events");

describe.skipIf(!available)("the raw stream archive: backfill and replay of stream batches", () => {
  afterAll(async () => {
    await deleteRedisKeys([], `${PREFIX}:*`);
  });

  it("archives each batch as received; backfill re-processes it once, replay publishes fixed rows once", async () => {
    const dir = makeProject(projectYaml("a", true));
    // 100 entries: every 10th has no name (fails the check), and one poison entry.
    const payloads = Array.from({ length: 100 }, (_, i) =>
      JSON.stringify(i % 10 === 9 ? { id: i + 1 } : { id: i + 1, name: `n${i + 1}` }),
    );
    await publishRedis(`${PREFIX}:a`, [...payloads, "not json"]);
    const r = await sluice(["worker", "--exit-when-idle", "1s", "--json"], dir);
    expect(r.code, r.stderr).toBe(0);
    const runs = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { run_id: string; rows: { quarantined: number } });
    expect(await counts(dir)).toEqual([{ n: 90, ids: 90 }]);

    // archive/<pipeline>/YYYY/MM/<batch>_<YYYYMMDDHHmmss>.jsonl, one per batch, the messages as received.
    const archived = readdirSync(join(dir, "landing/archive/events"), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(".jsonl"));
    expect(archived).toHaveLength(runs.length);
    for (const f of archived) expect(f).toMatch(/^\d{4}\/\d{2}\/[\w-]+_\d{14}\.jsonl$/);
    const lines = archived.flatMap((f) =>
      readFileSync(join(dir, "landing/archive/events", f), "utf8")
        .trim()
        .split("\n"),
    );
    expect(lines).toHaveLength(101);
    expect(lines.filter((l) => l.startsWith("#sluice-poison "))).toHaveLength(1);

    // `sluice runs` prints each batch's lag.
    const listed = await sluice(["runs"], dir);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/\blag\b/);
    expect(listed.stdout).toMatch(/\d+ pending, oldest [\d.]+ (ms|s)/);

    // `sluice history` lists the batches' loads as a file pipeline's.
    const history = await sluice(["history", "events"], dir);
    expect(history.code, history.stderr).toBe(0);
    for (const run of runs) expect(history.stdout).toContain(run.run_id);

    // Backfill: the archived batches go through the pipeline again, replacing their earlier rows.
    for (let round = 0; round < 2; round++) {
      const b = await sluice(
        ["backfill", "events", "--from", "2000-01-01", "--to", "2100-12-31", "--json"],
        dir,
      );
      expect(b.code, b.stderr).toBe(0);
      const [backfilled] = b.json<{ runs: { status: string; rows: { loaded: number } }[] }>().runs;
      expect(backfilled?.status).toBe("succeeded");
      expect(backfilled?.rows.loaded).toBe(90);
      expect(await counts(dir)).toEqual([{ n: 90, ids: 90 }]);
    }

    // Replay: with the check gone, the quarantined rows of a batch are published, once.
    writeFileSync(join(dir, "sluice.yaml"), projectYaml("a", false));
    const failedRun = runs.find((run) => run.rows.quarantined > 0)!;
    const replay = await sluice(["replay", failedRun.run_id, "--json"], dir);
    expect(replay.code, replay.stderr).toBe(0);
    const fixed = runs.reduce((n, run) => n + run.rows.quarantined, 0) - 1;
    expect(fixed).toBeGreaterThan(0);
    const replayed = (await counts(dir))[0]!;
    expect(replayed.n).toBe(replayed.ids);
    expect(replayed.n).toBeGreaterThan(90);
    const again = await sluice(["replay", failedRun.run_id], dir);
    expect(again.code).not.toBe(0);
    expect(await counts(dir)).toEqual([replayed]);
  }, 120_000);
});

describe.skipIf(!available)("the raw stream archive on an S3 landing zone", () => {
  afterAll(async () => {
    await deleteRedisKeys([], `${PREFIX}:*`);
  });

  it("archives each batch under archive/<pipeline>/YYYY/MM/ in the bucket; backfill reads it from there", async () => {
    const s3 = await startS3Server({ buckets: ["stream-archive"] });
    const env = {
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    };
    const landing = s3Storage({ ...s3.s3Options, bucket: "stream-archive", prefix: "landing" });
    try {
      const dir = makeProject(
        projectYaml("s3", false).replace(
          "landing: landing",
          `landing: s3://stream-archive/landing\ns3: { endpoint: "${s3.endpoint}", region: us-east-1, force_path_style: true }`,
        ),
      );
      await publishRedis(
        `${PREFIX}:s3`,
        Array.from({ length: 100 }, (_, i) => JSON.stringify({ id: i + 1, name: `n${i + 1}` })),
      );
      const r = await sluice(["worker", "--exit-when-idle", "1s", "--json"], dir, { env });
      expect(r.code, r.stderr).toBe(0);
      const batches = r.stdout.trim().split("\n").length;
      const archived: string[] = [];
      for await (const entry of landing.list("archive/events/")) archived.push(entry.path);
      expect(archived).toHaveLength(batches);
      for (const path of archived)
        expect(path).toMatch(/^archive\/events\/\d{4}\/\d{2}\/[\w-]+_\d{14}\.jsonl$/);
      const lines = (await Promise.all(archived.map((p) => landing.readFile(p)))).flatMap((b) =>
        b.toString().trim().split("\n"),
      );
      expect(lines).toHaveLength(100);

      const b = await sluice(
        ["backfill", "events", "--from", "2000-01-01", "--to", "2100-12-31", "--json"],
        dir,
        {
          env,
        },
      );
      expect(b.code, b.stderr).toBe(0);
      expect(b.json<{ runs: { rows: { loaded: number } }[] }>().runs[0]?.rows.loaded).toBe(100);
      const [c] = await query<{ n: number; ids: number }>(
        dir,
        "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events",
      );
      expect(c).toEqual({ n: 100, ids: 100 });
    } finally {
      landing.close();
      await s3.stop();
    }
  }, 120_000);
});
