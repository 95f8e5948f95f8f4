import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { killOnExit } from "./child-processes.js";
import { cliPath } from "./cli.js";

/** Starts `sluice run` and SIGKILLs it after `afterMs` (if it is still running). */
export function runAndKill(cwd: string, afterMs: number): Promise<{ killed: boolean }> {
  return new Promise((resolve) => {
    const child = killOnExit(spawn(process.execPath, [cliPath, "run"], { cwd, stdio: "ignore" }));
    let exited = false;
    const timer = setTimeout(() => {
      if (!exited) child.kill("SIGKILL");
    }, afterMs);
    child.on("exit", (_code, signal) => {
      exited = true;
      clearTimeout(timer);
      resolve({ killed: signal === "SIGKILL" });
    });
  });
}

/** The names of the files under a folder (recursively; none when it does not exist). */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name);
}
