import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3_RETRY, s3Storage } from "../../src/storage/s3-storage.js";
import { addFile, makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";
import { type FaultProxy, startFaultProxy } from "../support/s3-fault-proxy.js";
import { S3RVER_CREDENTIALS, startS3Server, type TestS3Server } from "../support/s3-server.js";

async function rows(dir: string, sql: string): Promise<unknown[]> {
  const r = await sluice(["query", sql, "--json"], dir);
  expect(r.code).toBe(0);
  return r.json<unknown[]>();
}

describe("two Sluice processes on one project", () => {
  it("never load a file twice: the second waits for the warehouse, then finds nothing left", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 12; i++) files[`landing/in/f${i}.csv`] = `id\n${i}\n`;
    const dir = makeProject(
      pipelineYaml(`t:\n  source: { path: "in/*.csv" }\n  target: { table: t }`),
      files,
    );
    const [a, b] = await Promise.all([sluice(["run", "--json"], dir), sluice(["run", "--json"], dir)]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const loaded = [a, b].flatMap((r) =>
      r.json<RunJson>().runs.flatMap((run) => run.files.filter((f) => f.status === "loaded")),
    );
    expect(loaded).toHaveLength(12);
    expect(await rows(dir, "select count(*) as n, count(distinct id) as d from t")).toEqual([
      { n: 12, d: 12 },
    ]);
  });
});

interface Hook {
  readonly url: string;
  readonly bodies: Record<string, unknown>[];
  readonly server: Server;
}

/** A webhook receiver: `mode` hang = never answers; flaky = 500 on the first call, then 200. */
async function startHook(mode: "hang" | "flaky"): Promise<Hook> {
  const bodies: Record<string, unknown>[] = [];
  let calls = 0;
  const server = createServer((req: IncomingMessage, res) => {
    let text = "";
    req.on("data", (d: Buffer) => {
      text += d.toString();
    });
    req.on("end", () => {
      calls++;
      if (mode === "hang") return;
      if (calls === 1) {
        res.writeHead(500).end("boom");
        return;
      }
      bodies.push(JSON.parse(text) as Record<string, unknown>);
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies, server };
}

describe("alerts", () => {
  const hooks: Hook[] = [];
  afterAll(() => {
    for (const h of hooks) h.server.closeAllConnections?.();
    for (const h of hooks) h.server.close();
  });

  it("posts a Slack-compatible summary on failure, retrying a 500; a hanging webhook never blocks the run", async () => {
    const flaky = await startHook("flaky");
    const hanging = await startHook("hang");
    hooks.push(flaky, hanging);
    const yaml = pipelineYaml(
      `t:\n  source: { path: "in/*.csv", on_malformed: fail }\n  target: { table: t }`,
      `alerts:\n  - { webhook: "${flaky.url}", on: [failure] }\n  - { webhook: "${hanging.url}", on: [failure, threshold] }\n`,
    );
    const dir = makeProject(yaml, { "landing/in/bad.csv": 'id,v\n1,"unterminated\n' });
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(1);
    expect(r.json<RunJson>().runs[0]!.status).toBe("failed");
    // The run ended although one webhook never answers: it dropped the pending alert and said so.
    expect(r.stderr).toMatch(/alert\(s\) still pending after 5000 ms were dropped|alert not delivered/);
    expect(flaky.bodies).toHaveLength(1);
    const body = flaky.bodies[0]!;
    expect(body.text).toMatch(/sluice: pipeline t failed/);
    expect(body).toMatchObject({ pipeline: "t", status: "failed", events: ["failure"] });

    // A successful run sends nothing.
    addFile(dir, "landing/in/good.csv", "id,v\n2,x\n");
    const ok = await sluice(["run", "--file", "landing/in/good.csv"], dir);
    expect(ok.code).toBe(0);
    expect(flaky.bodies).toHaveLength(1);
  });
});

describe("S3 throttling and outages", () => {
  let server: TestS3Server;
  let proxy: FaultProxy;
  beforeAll(async () => {
    server = await startS3Server({ buckets: ["resilience"] });
    proxy = await startFaultProxy(server.port);
  });
  afterAll(async () => {
    await proxy?.stop();
    await server?.stop();
  });

  it("rides out SlowDown answers, and fails cleanly (re-runnable) when the storage stays down", async () => {
    const env = {
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    };
    const dir = makeProject(`landing: s3://resilience/landing
s3: { endpoint: "${proxy.endpoint}", region: us-east-1, force_path_style: true }
pipelines:
  t:
    source: { path: "in/*.csv" }
    retries: { max: 1, base: 50ms, max_delay: 100ms }
    target: { table: t }
`);
    const landing = s3Storage({ ...server.s3Options, bucket: "resilience", prefix: "landing" });
    await landing.writeFile("in/a.csv", "id\n1\n2\n");
    proxy.failNext(3, { status: 503, code: "SlowDown" });
    const throttled = await sluice(["run", "--json"], dir, { env });
    expect(throttled.code).toBe(0);
    expect(proxy.requests.filter((q) => q.outcome === "fault")).toHaveLength(3);
    expect(await rows(dir, "select count(*) as n from t")).toEqual([{ n: 2 }]);

    await landing.writeFile("in/b.csv", "id\n3\n");
    proxy.failNext(1000, { status: 500, code: "InternalError" });
    const down = await sluice(["run"], dir, { env });
    expect(down.code).toBe(1);
    expect(down.stderr + down.stdout).toMatch(/InternalError|unavailable|500/);
    expect(down.stderr).not.toMatch(/\n\s+at /);
    proxy.failNext(0);
    const again = await sluice(["run", "--json"], dir, { env });
    expect(again.code).toBe(0);
    expect(await rows(dir, "select count(*) as n from t")).toEqual([{ n: 3 }]);
    landing.close();
  });

  it("retries a storage that never heals at one level only: its attempts are one S3 budget", async () => {
    const env = {
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    };
    // The pipeline's own retries would multiply the storage's if both levels retried the same failure.
    const dir = makeProject(`landing: s3://resilience/budget
s3: { endpoint: "${proxy.endpoint}", region: us-east-1, force_path_style: true }
pipelines:
  t:
    source: { path: "in/*.csv" }
    retries: { max: 2, base: 10ms, max_delay: 20ms }
    target: { table: t }
`);
    const landing = s3Storage({ ...server.s3Options, bucket: "resilience", prefix: "budget" });
    await landing.writeFile("in/a.csv", "id\n1\n");
    landing.close();
    const before = proxy.requests.length;
    proxy.failNext(1000, { status: 500, code: "InternalError" });
    const down = await sluice(["run"], dir, { env });
    proxy.failNext(0);
    expect(down.code).toBe(1);
    const faults = proxy.requests.slice(before).filter((q) => q.outcome === "fault");
    expect(faults).toHaveLength(S3_RETRY.max + 1);
  }, 60_000);
});
