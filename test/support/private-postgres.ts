import { execFile } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A PostgreSQL server of a test's own, which it may restart or stop (never the shared one). */
export interface PrivatePostgres {
  /** URL of its `postgres` database (trust auth, user postgres). */
  readonly url: string;
  readonly port: number;
  /** `pg_ctl restart -m fast`: every connection is terminated (57P01) and the server comes back. */
  restart(): Promise<void>;
  /**
   * `pg_ctl stop -m fast`, and `start` again after `downMs` and once `until` (if given) settled: an outage
   * that lasts until a client noticed it (not awaited: the outage is under way).
   */
  outage(downMs: number, until?: () => Promise<unknown>): Promise<{ readonly over: Promise<void> }>;
  /** Stops the server for good and removes its folder. */
  stop(): Promise<void>;
}

/** The bin folder of the newest PostgreSQL installed under /usr/lib/postgresql, if any. */
export function postgresBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], "bin") : undefined;
}

/**
 * initdb + pg_ctl start into a temporary folder on a free port. PostgreSQL refuses to run as root: as
 * root the server runs as the `postgres` user. Throws when no PostgreSQL binaries are installed.
 *
 * @example
 * const pg = await startPrivatePostgres(); try { ... await pg.restart(); } finally { await pg.stop(); }
 * const withStatements = await startPrivatePostgres({ shared_preload_libraries: "pg_stat_statements" });
 */
export async function startPrivatePostgres(settings: Record<string, string> = {}): Promise<PrivatePostgres> {
  const bin = postgresBinDir();
  if (!bin) throw new Error("no PostgreSQL binaries under /usr/lib/postgresql/*/bin");
  const dir = mkdtempSync(join(tmpdir(), "sluice-pg-private-"));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const pgRun = (tool: string, args: readonly string[]) =>
    asRoot
      ? run("runuser", ["-u", "postgres", "--", join(bin, tool), ...args])
      : run(join(bin, tool), [...args]);
  const port = await freePort();
  const data = join(dir, "data");
  await pgRun("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  // Extra server settings (`shared_preload_libraries`, ...) go on the command line like the fixed ones.
  const extra = Object.entries(settings).map(([k, v]) => ` -c ${k}=${v}`);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off${extra.join("")}`;
  const ctl = (args: readonly string[]) =>
    pgRun("pg_ctl", ["-D", data, "-l", join(dir, "server.log"), "-o", options, "-w", "-t", "60", ...args]);
  await ctl(["start"]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async restart() {
      await ctl(["restart", "-m", "fast"]);
    },
    async outage(downMs, until) {
      await ctl(["stop", "-m", "fast"]);
      const down = [
        new Promise<void>((resolve) => setTimeout(resolve, downMs)),
        until?.().catch(() => undefined),
      ];
      const over = Promise.all(down).then(async () => {
        await ctl(["start"]);
      });
      return { over };
    },
    async stop() {
      await ctl(["stop", "-m", "immediate"]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}
