import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { s3Storage } from "../../src/storage/s3-storage.js";
import { addFile, makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";
import { S3RVER_CREDENTIALS, startS3Server, type TestS3Server } from "../support/s3-server.js";

interface VersionJson {
  version: number;
  received_at: string;
  path: string;
  size: number;
  sha256: string;
  run_id: string;
  archived_to: string | null;
}

const daily = `daily:
  source: { path: "in/daily/*.csv" }
  target: { table: daily }`;

async function rows(dir: string, sql: string, env?: NodeJS.ProcessEnv): Promise<unknown[]> {
  const r = await sluice(["query", sql, "--json"], dir, env ? { env } : {});
  expect(r.code).toBe(0);
  return r.json<unknown[]>();
}

describe("files versions / restore on a local landing zone", () => {
  it("lists every version of a daily-overwritten file and puts one back for re-processing", async () => {
    const dir = makeProject(pipelineYaml(daily));
    const contents = ["id\n1\n", "id\n2\n3\n", "id\n4\n"];
    const runIds: string[] = [];
    for (const content of contents) {
      addFile(dir, "landing/in/daily/export.csv", content);
      const r = await sluice(["run", "--json"], dir);
      runIds.push(r.json<RunJson>().runs[0]!.run_id);
    }
    const listed = await sluice(["files", "versions", "export.csv", "--json"], dir);
    expect(listed.code).toBe(0);
    const { name, versions } = listed.json<{ name: string; versions: VersionJson[] }>();
    expect(name).toBe("export.csv");
    // Newest first.
    expect(versions.map((v) => [v.version, v.path, v.size, v.run_id])).toEqual(
      contents.map((c, i) => [i + 1, "in/daily/export.csv", c.length, runIds[i]]).reverse(),
    );
    expect(new Set(versions.map((v) => v.archived_to)).size).toBe(3);
    const human = await sluice(["files", "versions", "in/daily/export.csv"], dir);
    expect(human.stdout).toMatch(/version\s+received_at/);

    const restored = await sluice(["files", "restore", "export.csv", "--version", "2"], dir);
    expect(restored.code).toBe(0);
    expect(readFileSync(join(dir, "landing/in/daily/export.csv"), "utf8")).toBe(contents[1]);
    // Restoring onto a waiting file is refused; a missing version is explained.
    const busy = await sluice(["files", "restore", "export.csv", "--version", "1"], dir);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toMatch(/already exists/);
    const missing = await sluice(["files", "restore", "export.csv", "--version", "9"], dir);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no version 9 \(versions 1 to 3/);
    // Re-processing the restored version replaces its earlier rows: nothing is loaded twice.
    const rerun = await sluice(["run", "--force", "--json"], dir);
    expect(rerun.json<RunJson>().runs[0]!.rows.loaded).toBe(2);
    expect(await rows(dir, "select id from daily order by id")).toEqual([
      { id: 1 },
      { id: 2 },
      { id: 3 },
      { id: 4 },
    ]);
  });
});

describe("sluice backfill", () => {
  it("re-processes archived files of a date range under the current config, idempotently", async () => {
    const dir = makeProject(pipelineYaml(daily), {
      "landing/in/daily/a.csv": "id\n1\n2\n",
      "landing/in/daily/b.csv": "id\n3\n",
    });
    expect((await sluice(["run"], dir)).code).toBe(0);
    // The config changes: a derived column the old loads lack.
    const yaml = readFileSync(join(dir, "sluice.yaml"), "utf8").replace(
      /^( +)target: \{ table: daily \}/m,
      '$1derive: { doubled: "id * 2" }\n$1target: { table: daily }',
    );
    writeFileSync(join(dir, "sluice.yaml"), yaml);
    const today = new Date().toISOString().slice(0, 10);
    const first = await sluice(["backfill", "daily", "--from", today, "--to", today, "--json"], dir);
    expect(first.stderr).toMatch(/backfilling/);
    expect(first.code).toBe(0);
    const runs = first.json<RunJson>().runs;
    expect(runs).toHaveLength(1);
    expect(runs[0]!.files.map((f) => f.status)).toEqual(["loaded", "loaded"]);
    const after = await rows(dir, "select id, doubled from daily order by id");
    expect(after).toEqual([
      { id: 1, doubled: 2 },
      { id: 2, doubled: 4 },
      { id: 3, doubled: 6 },
    ]);
    // Files stay archived, nothing appears in the landing inbox.
    expect(existsSync(join(dir, "landing/in/daily/a.csv"))).toBe(false);
    const again = await sluice(["backfill", "daily", "--from", today, "--to", today, "--parallel", "4"], dir);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/one writer/);
    expect(await rows(dir, "select id, doubled from daily order by id")).toEqual(after);
    const none = await sluice(["backfill", "daily", "--from", "2001-01-01", "--to", "2001-01-31"], dir);
    expect(none.stdout).toMatch(/no archived files received from 2001-01-01 to 2001-01-31/);
    const bad = await sluice(["backfill", "daily", "--from", "2026-13-01", "--to", today], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--from 2026-13-01: expected a day/);
  });
});

describe("files versions / restore on an S3 landing zone", () => {
  let server: TestS3Server;
  beforeAll(async () => {
    server = await startS3Server({ buckets: ["files-e2e"] });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("restores an archived version inside the bucket", async () => {
    const env = {
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    };
    const dir = makeProject(`landing: s3://files-e2e/landing
s3: { endpoint: "${server.endpoint}", region: us-east-1, force_path_style: true }
pipelines:
  ${daily.replaceAll("\n", "\n  ")}
`);
    const landing = s3Storage({ ...server.s3Options, bucket: "files-e2e", prefix: "landing" });
    for (const content of ["id\n1\n", "id\n2\n"]) {
      await landing.writeFile("in/daily/export.csv", content);
      expect((await sluice(["run"], dir, { env })).code).toBe(0);
    }
    const { versions } = (await sluice(["files", "versions", "export.csv", "--json"], dir, { env })).json<{
      versions: VersionJson[];
    }>();
    expect(versions).toHaveLength(2);
    const r = await sluice(["files", "restore", "export.csv", "--version", "1", "--json"], dir, { env });
    expect(r.code).toBe(0);
    expect((await landing.readFile("in/daily/export.csv")).toString()).toBe("id\n1\n");
    landing.close();
  });
});
