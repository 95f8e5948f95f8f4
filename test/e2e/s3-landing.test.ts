import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { s3Storage } from "../../src/storage/s3-storage.js";
import { makeProject, type RunJson, sluice } from "../support/cli.js";
import { queryRows, startDaemon, waitFor } from "../support/daemon.js";
import { S3RVER_CREDENTIALS, startS3Server, type TestS3Server } from "../support/s3-server.js";

const BUCKET = "sluice-e2e";
let server: TestS3Server;
let counter = 0;

beforeAll(async () => {
  server = await startS3Server({ buckets: [BUCKET] });
});
afterAll(async () => {
  await server?.stop();
});

/** AWS credentials from the standard environment, as a user would set them. */
function awsEnv(key: string = S3RVER_CREDENTIALS.accessKeyId): NodeJS.ProcessEnv {
  return {
    AWS_ACCESS_KEY_ID: key,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_REGION: "us-east-1",
  };
}

function s3Project(bucket = BUCKET, path = "in/orders/*.csv"): { dir: string; prefix: string } {
  const prefix = `p${++counter}`;
  const yaml = `warehouse: duckdb:warehouse.duckdb
landing: s3://${bucket}/${prefix}/landing
s3: { endpoint: "${server.endpoint}", region: us-east-1, force_path_style: true }
pipelines:
  orders:
    source: { path: "${path}", stable_for: 300ms }
    columns: { order_id: { type: bigint } }
    max_failure_rate: 0.5
    retries: { max: 1, base: 10ms, max_delay: 20ms }
    target: { table: orders }
`;
  return { dir: makeProject(yaml), prefix };
}

function landingOf(prefix: string) {
  return s3Storage({ ...server.s3Options, bucket: BUCKET, prefix: `${prefix}/landing` });
}

async function keys(prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of landingOf(prefix).list("")) out.push(e.path);
  return out.sort();
}

describe("S3 landing zone", () => {
  it("loads from S3, archives, writes quarantine and the run log back to S3, and never loads twice", async () => {
    const { dir, prefix } = s3Project();
    const landing = landingOf(prefix);
    await landing.writeFile("in/orders/a.csv", "order_id,amount\n1,10\n2,20\nx,30\n");
    await landing.writeFile("in/orders/b.csv", "order_id,amount\n3,30\n");
    const r = await sluice(["run", "--json"], dir, { env: awsEnv() });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const run = r.json<RunJson>().runs[0]!;
    expect(run.status).toBe("succeeded");
    expect(run.rows).toMatchObject({ read: 4, loaded: 3, malformed: 1 });
    const stored = await keys(prefix);
    expect(stored.filter((k) => k.startsWith("in/"))).toEqual([]);
    expect(stored.filter((k) => k.startsWith("archive/orders/"))).toHaveLength(2);
    expect(stored.some((k) => k.startsWith(`quarantine/orders/${run.run_id}/`))).toBe(true);
    expect(stored.some((k) => k.startsWith("logs/") && k.endsWith(`${run.run_id}.jsonl`))).toBe(true);

    // The same content again under another name: skipped, not loaded twice.
    await landing.writeFile("in/orders/c.csv", "order_id,amount\n3,30\n");
    const again = await sluice(["run", "--json"], dir, { env: awsEnv() });
    expect(again.json<RunJson>().runs[0]!.files[0]!.status).toBe("skipped_duplicate");
    const q = await sluice(["query", "select count(*) as n from orders", "--json"], dir);
    expect(q.json()).toEqual([{ n: 3 }]);
    landing.close();
  });

  it("loads and archives keys with backslashes, dots and + & = characters, which stay ordinary characters", async () => {
    const { dir, prefix } = s3Project();
    const landing = landingOf(prefix);
    const names = ["in/orders/a\\..\\..\\b.csv", "in/orders/x+y.csv", "in/orders/p&q=r.csv"];
    for (const [i, name] of names.entries()) await landing.writeFile(name, `order_id\n${i + 1}\n`);
    const r = await sluice(["run", "--json"], dir, { env: awsEnv() });
    expect(r.code).toBe(0);
    const files = r.json<RunJson>().runs[0]!.files;
    const byPath = [...files].sort((a, b) => (a.path < b.path ? -1 : 1));
    expect(byPath.map((f) => [f.path, f.status, f.warnings])).toEqual(
      [...names].sort().map((n) => [n, "loaded", []]),
    );
    const stored = await keys(prefix);
    expect(stored.filter((k) => k.startsWith("in/"))).toEqual([]);
    for (const file of files) {
      expect(stored).toContain(file.archived_to);
      const content = (await landing.readFile(file.archived_to!)).toString();
      expect(content).toBe(`order_id\n${names.indexOf(file.path) + 1}\n`);
    }
    expect(stored.find((k) => k.startsWith("archive/"))).toMatch(
      /^archive\/orders\/\d{4}\/\d{2}\/a\\\.\.\\\.\.\\b_\d{14}\.csv$/,
    );
    const again = await sluice(["run", "--json"], dir, { env: awsEnv() });
    expect(again.json<RunJson>().runs[0]!.files).toEqual([]);
    landing.close();
  });

  it("a truncated gzip file fails as it downloads and moves to unprocessed/; nothing of it is published", async () => {
    const { dir, prefix } = s3Project(BUCKET, "in/orders/*.csv.gz");
    const landing = landingOf(prefix);
    const csv = `order_id\n${Array.from({ length: 3000 }, (_, i) => i + 1).join("\n")}\n`;
    await landing.writeFile("in/orders/cut.csv.gz", gzipSync(csv).subarray(0, 2000));
    await landing.writeFile("in/orders/good.csv.gz", gzipSync("order_id\n1\n"));
    const r = await sluice(["run", "--json"], dir, { env: awsEnv() });
    expect(r.code, r.stderr).toBe(1);
    const files = r.json<RunJson>().runs[0]!.files;
    const cut = files.find((f) => f.path === "in/orders/cut.csv.gz")!;
    expect(cut.status).toBe("failed");
    expect(cut.error).toMatch(/^in\/orders\/cut\.csv\.gz: the gzip data is truncated/);
    expect(cut.archived_to).toMatch(/^unprocessed\/orders\//);
    expect((await keys(prefix)).filter((k) => k.startsWith("unprocessed/"))).toEqual([cut.archived_to]);
    const q = await sluice(["query", "select order_id from orders", "--json"], dir);
    expect(q.json()).toEqual([{ order_id: 1 }]);
    landing.close();
  });

  it("explains wrong credentials and a missing bucket, and leaves files in place", async () => {
    const { dir, prefix } = s3Project();
    const landing = landingOf(prefix);
    await landing.writeFile("in/orders/a.csv", "order_id\n1\n");
    const bad = await sluice(["run"], dir, { env: awsEnv("WRONG") });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/s3:\/\/sluice-e2e\/.*(access|credential|denied)/i);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    expect(await keys(prefix)).toEqual(["in/orders/a.csv"]);

    const missing = s3Project("no-such-bucket");
    const gone = await sluice(["run"], missing.dir, { env: awsEnv() });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/no-such-bucket/);
    expect(gone.stderr).toMatch(/bucket/i);
    landing.close();
  });

  it("sluice watch polls the bucket and loads each new object (and each overwrite) once", async () => {
    const { dir, prefix } = s3Project();
    const landing = landingOf(prefix);
    const daemon = await startDaemon(dir, ["--poll", "200ms"], awsEnv());
    try {
      await landing.writeFile("in/orders/daily.csv", "order_id\n1\n2\n");
      const count = async () =>
        Number((await queryRows<{ n: number }>(dir, "select count(*) as n from orders"))[0]?.n ?? 0);
      await waitFor(async () => (await count()) === 2, 15_000, daemon.stderr);
      // The producer overwrites the file under the same name the next day: a new version.
      await waitFor(async () => (await keys(prefix)).every((k) => !k.startsWith("in/")), 10_000);
      await landing.writeFile("in/orders/daily.csv", "order_id\n3\n");
      await waitFor(async () => (await count()) === 3, 15_000, daemon.stderr);
    } finally {
      expect((await daemon.stop()).code).toBe(0);
      landing.close();
    }
    const versions = await sluice(["files", "versions", "daily.csv", "--json"], dir, { env: awsEnv() });
    expect(versions.json<{ name: string; versions: unknown[] }>().versions).toHaveLength(2);
    expect(daemon.stderr()).not.toMatch(/NodeVersionSupportWarning/);
  });
});
