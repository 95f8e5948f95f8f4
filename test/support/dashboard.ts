import { type ChildProcess, spawn } from "node:child_process";
import { killOnExit } from "./child-processes.js";
import { cliPath } from "./cli.js";
import { waitFor } from "./daemon.js";

/** A `sluice serve` (or `watch --serve`) child process and the URL it listens on. */
export interface ServedDashboard {
  readonly child: ChildProcess;
  readonly url: string;
  stdout(): string;
  stderr(): string;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `sluice <args>` (serve, or watch --serve) in `cwd` on a free port and waits for its URL.
 *
 * @example
 * const d = await startServed(dir, ["serve", "--port", "0"]); await fetch(`${d.url}/api/runs`);
 */
export async function startServed(
  cwd: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<ServedDashboard> {
  const child = killOnExit(
    spawn(process.execPath, [cliPath, ...args], {
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
  const urlOf = () => /dashboard at (http:\/\/\S+?)\/?\s/.exec(err)?.[1];
  await waitFor(
    () => urlOf() !== undefined || child.exitCode !== null,
    20_000,
    () => err,
  );
  if (child.exitCode !== null) throw new Error(`sluice ${args.join(" ")} exited early: ${err}`);
  return {
    child,
    url: urlOf()!,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}
