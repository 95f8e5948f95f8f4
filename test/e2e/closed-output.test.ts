import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { cliPath, makeProject, pipelineYaml } from "../support/cli.js";

/** Runs the CLI and closes its stdout after the first chunk, as `| head -1` does. */
function runClosingStdout(
  args: readonly string[],
  cwd: string,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout.once("data", () => child.stdout.destroy());
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stderr });
    });
  });
}

describe("output to a reader that went away", () => {
  it("does not crash with an EPIPE stack trace (sluice query ... | head)", async () => {
    const dir = makeProject(
      pipelineYaml(`orders:\n  source: { path: "in/*.csv" }\n  target: { table: orders }`),
    );
    for (const format of ["--csv", "--json"]) {
      const r = await runClosingStdout(["query", "select * from range(200000)", format], dir);
      expect(r.stderr, format).not.toMatch(/EPIPE|Unhandled 'error' event/);
      expect(r.code, format).toBe(0);
    }
  });
});
