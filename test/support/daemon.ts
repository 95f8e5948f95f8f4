import { type ChildProcess, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { killOnExit } from "./child-processes.js";
import { cliPath, sluice } from "./cli.js";

/** A `sluice watch` child process. */
export interface Daemon {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Sends a signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `sluice watch <args>` in `cwd` and waits until it reports that it is watching.
 *
 * @example
 * const daemon = await startDaemon(dir); ...; expect((await daemon.stop()).code).toBe(0);
 */
export async function startDaemon(
  cwd: string,
  args: readonly string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<Daemon> {
  const child = killOnExit(
    spawn(process.execPath, [cliPath, "watch", ...args], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once("exit", (code, signal) => done({ code, signal })),
  );
  await waitFor(
    () => /watching /.test(err) || child.exitCode !== null,
    15_000,
    () => err,
  );
  if (child.exitCode !== null) throw new Error(`sluice watch exited early: ${err}`);
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}

/** Polls `check` every 50 ms until it holds (or fails the test with `describe()` after `timeoutMs`). */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  describe: () => string = () => "",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms ${describe()}`);
    await sleep(50);
  }
}

/** `sluice query --json` rows (the daemon must not hold the warehouse while idle for this to work). */
export async function queryRows<T = Record<string, unknown>>(dir: string, sql: string): Promise<T[]> {
  const r = await sluice(["query", sql, "--json"], dir, { env: { SLUICE_LOCK_WAIT: "20s" } });
  if (r.code !== 0) return [];
  return r.json<T[]>();
}
