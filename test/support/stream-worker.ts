import { type ChildProcess, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { killOnExit } from "./child-processes.js";
import { cliPath, sluice } from "./cli.js";

/** A `sluice worker --json` started in the background, its output collected as it comes. */
export interface WorkerProcess {
  readonly child: ChildProcess;
  /** Run reports printed so far (one per published batch). */
  reports(): number;
  stderr(): string;
  /** Resolves with the exit code (or signal) once it has exited. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
}

/**
 * Starts `sluice worker --json [args]` in `dir` without waiting for it.
 *
 * @example
 * const w = startWorker(dir); await waitFor(() => w.reports() > 0); w.child.kill("SIGKILL");
 */
export function startWorker(
  dir: string,
  args: readonly string[] = [],
  env: NodeJS.ProcessEnv = {},
): WorkerProcess {
  const child = killOnExit(
    spawn(process.execPath, [cliPath, "worker", "--json", ...args], {
      cwd: dir,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  let reports = 0;
  let err = "";
  child.stdout!.on("data", (d: Buffer) => {
    reports += d.toString().split("\n").length - 1;
  });
  child.stderr!.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | NodeJS.Signals | null>((done) =>
    child.once("exit", (code, signal) => done(code ?? signal)),
  );
  return { child, reports: () => reports, stderr: () => err, exited };
}

/**
 * Polls `ready` every 50 ms until true; throws after `timeoutMs` naming `what` (a function: worded when it
 * times out, e.g. with the worker's stderr).
 */
export async function waitFor(
  ready: () => boolean | Promise<boolean>,
  what: string | (() => string),
  timeoutMs = 60_000,
) {
  const until = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > until) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : what()}`,
      );
    }
    await sleep(50);
  }
}

/** How {@link killWorkerRepeatedly} kills. */
export interface KillOptions {
  /** The kill comes up to this long after the round's first published batch (default 1,500 ms). */
  readonly jitterMs?: number;
  /** Environment of the killed workers (e.g. SLUICE_PUBLISH_DELAY_MS, so the kills cannot outrun the stream). */
  readonly env?: NodeJS.ProcessEnv;
  /** Messages the consumer has not acknowledged yet: 0 means the stream is drained (no batch is coming). */
  readonly pending?: () => Promise<number>;
}

/**
 * `kill -9` of a worker `kills` times, each at a random moment while batches flow: after its first
 * published batch (so every round makes progress) plus up to `jitterMs`, which lands in a later batch's
 * pull, publish or ack. A round that finds the stream drained fails at once, naming the kill: the kills
 * outran the stream, so they were not mid-stream (without `pending` it would wait for a batch that never
 * comes).
 */
export async function killWorkerRepeatedly(
  dir: string,
  kills: number,
  options: KillOptions = {},
): Promise<void> {
  for (let kill = 0; kill < kills; kill++) {
    const worker = startWorker(dir, [], options.env);
    let drained = false;
    let checkedAt = Date.now();
    const ready = async () => {
      if (worker.reports() > 0) return true;
      // Asked once a second: the broker need not answer 20 times a second.
      if (options.pending && Date.now() - checkedAt >= 1_000) {
        checkedAt = Date.now();
        drained = (await options.pending()) === 0;
      }
      return drained;
    };
    await waitFor(ready, "a published batch before the kill", 300_000).catch((error) => {
      worker.child.kill("SIGKILL");
      throw new Error(`${(error as Error).message}\n${worker.stderr()}`);
    });
    if (drained && worker.reports() === 0) {
      worker.child.kill("SIGKILL");
      await worker.exited;
      throw new Error(`kill ${kill + 1} of ${kills}: the stream was already drained (the kills outran it)`);
    }
    await sleep(Math.floor(Math.random() * (options.jitterMs ?? 1_500)));
    worker.child.kill("SIGKILL");
    await worker.exited;
  }
}

/** Rows of `sluice query --json` (waiting for the warehouse lock a while). */
export async function queryRows<T>(dir: string, sql: string): Promise<T[]> {
  const r = await sluice(["query", sql, "--json"], dir, { env: { SLUICE_LOCK_WAIT: "30s" } });
  if (r.code !== 0) throw new Error(`sluice query failed: ${r.stderr}`);
  return r.json<T[]>();
}
