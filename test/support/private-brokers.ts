import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export const natsServerBinary = "/usr/sbin/nats-server";
export const redisServerBinary = "/usr/bin/redis-server";

/** A broker of a test's own, which it may stop and start again (never the shared one). */
export interface PrivateBroker {
  readonly url: string;
  readonly port: number;
  /** Stops the server (SIGTERM: it saves its state) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data folder, once it accepts connections. */
  start(): Promise<void>;
  /** Stops it for good and removes its folder. */
  close(): Promise<void>;
}

/**
 * A JetStream-enabled nats-server on a free port, its store in a temporary folder (kept across restarts).
 *
 * @example
 * const nats = await startPrivateNats(); try { await nats.stop(); await nats.start(); } finally { await nats.close(); }
 */
export function startPrivateNats(): Promise<PrivateBroker> {
  return privateBroker("nats", (port, dir) => [
    natsServerBinary,
    ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir],
  ]);
}

/**
 * A redis-server on a free port; with `persist` its data lives in an append-only file in a temporary
 * folder, so a restart keeps the stream (without, a restart loses everything).
 */
export function startPrivateRedis(persist = true): Promise<PrivateBroker> {
  return privateBroker("redis", (port, dir) => [
    redisServerBinary,
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      persist ? "yes" : "no",
      "--dir",
      dir,
    ],
  ]);
}

async function privateBroker(
  kind: "nats" | "redis",
  command: (port: number, dir: string) => [string, string[]],
): Promise<PrivateBroker> {
  const [binary] = command(0, "");
  if (!existsSync(binary)) throw new Error(`${binary} is not installed`);
  const dir = mkdtempSync(join(tmpdir(), `sluice-${kind}-private-`));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let log = "";
  const start = async () => {
    const [bin, args] = command(port, dir);
    const c = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    c.stdout!.on("data", (d: Buffer) => {
      log += d.toString();
    });
    c.stderr!.on("data", (d: Buffer) => {
      log += d.toString();
    });
    child = c;
    const until = Date.now() + 30_000;
    while (!(await accepts(port))) {
      if (c.exitCode !== null || Date.now() > until)
        throw new Error(`${kind} server on port ${port} did not start:\n${log}`);
      await sleep(50);
    }
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((done) => c.once("exit", done));
    c.kill("SIGTERM");
    await exited;
  };
  await start();
  return {
    url: `${kind}://127.0.0.1:${port}`,
    port,
    stop,
    start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
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
