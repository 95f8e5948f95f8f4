import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import { addFile, cliPath, makeProject } from "../support/cli.js";
import { type PrivatePostgres, startPrivatePostgres } from "../support/private-postgres.js";
import { serviceAvailable } from "../support/require-service.js";

let server: PrivatePostgres | undefined;
const available = await serviceAvailable("a private PostgreSQL (initdb/pg_ctl)", async () => {
  server = await startPrivatePostgres();
});

const ROWS = 60_000;

function csv(first: number): string {
  const lines = Array.from({ length: ROWS }, (_, i) => `${first + i},item ${i},${(i % 97) / 4}`);
  return `id,name,amount\n${lines.join("\n")}\n`;
}

/** Lines of this run's log so far (the run log is written as events happen). */
function logText(dir: string): string {
  const logs = join(dir, "landing/logs");
  if (!existsSync(logs)) return "";
  return readdirSync(logs, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".jsonl"))
    .map((f) => readFileSync(join(logs, f), "utf8"))
    .join("");
}

/**
 * `sluice run` with the server restarted (pg_ctl restart -m fast) once the run has staged its files and
 * publishes (where connections are held between statements), after a random delay of up to `jitterMs`.
 */
async function runThroughRestart(dir: string, files: number, jitterMs: number) {
  const stagedBefore = (logText(dir).match(/"msg":"staged"/g) ?? []).length;
  const child = spawn(process.execPath, [cliPath, "run", "--json"], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdout.resume();
  let exited = false;
  const done = new Promise<number | null>((resolve) =>
    child.on("close", (code) => {
      exited = true;
      resolve(code);
    }),
  );
  while (!exited && (logText(dir).match(/"msg":"staged"/g) ?? []).length < stagedBefore + files)
    await sleep(10);
  await sleep(Math.floor(Math.random() * jitterMs));
  await server!.restart();
  return { code: await done, stderr };
}

describe.skipIf(!available)("sluice run: the PostgreSQL warehouse restarted mid-run", () => {
  afterAll(async () => {
    await server?.stop();
  });

  it("every run rides through a restart (transient, retried) and every file is loaded exactly once", async () => {
    const dir = makeProject(
      `warehouse: "${server!.url}"\npipelines:\n  restart:\n    source: { path: "in/*.csv" }\n    target: { table: restart, mode: merge, keys: [id] }\n`,
    );
    const files: string[] = [];
    for (let round = 0; round < 5; round++) {
      for (let f = 0; f < 3; f++) {
        const name = `in/r${round}-${f}.csv`;
        addFile(dir, `landing/${name}`, csv((round * 3 + f) * ROWS));
        files.push(name);
      }
      const { code, stderr } = await runThroughRestart(dir, 3, 400);
      expect(stderr).not.toMatch(/Unhandled 'error' event|Connection terminated unexpectedly\n\s+at /);
      expect(code, stderr).toBe(0);
      expect(readdirSync(join(dir, "landing/in"))).toEqual([]);
    }
    const w = await openPostgresWarehouse({ url: server!.url, readOnly: true });
    try {
      const perFile = await w.query(
        "SELECT _sluice_source_file AS f, count(*)::int AS n, count(DISTINCT id)::int AS d FROM restart GROUP BY 1 ORDER BY 1",
      );
      expect(perFile).toEqual(files.sort().map((f) => ({ f, n: ROWS, d: ROWS })));
      const ledger = await w.query(
        "SELECT count(*)::int AS n, count(DISTINCT sha256)::int AS d FROM sluice.files WHERE status = 'loaded'",
      );
      expect(ledger).toEqual([{ n: files.length, d: files.length }]);
    } finally {
      await w.close();
    }
  }, 300_000);
});
