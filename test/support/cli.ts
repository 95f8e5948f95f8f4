import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { killOnExit } from "./child-processes.js";

/** The built CLI entry point. */
export const cliPath = resolve(process.cwd(), "dist/sluice.js");

/** What a CLI invocation did. */
export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  json<T = unknown>(): T;
}

/**
 * Runs `sluice <args>` in `cwd` and waits for it.
 *
 * @example
 * const r = await sluice(["run", "--json"], dir); expect(r.code).toBe(0);
 */
export function sluice(
  args: readonly string[],
  cwd: string,
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = killOnExit(
      spawn(process.execPath, [cliPath, ...args], {
        cwd,
        env: { ...process.env, ...options.env },
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolvePromise({
        code,
        signal,
        stdout,
        stderr,
        json<T>() {
          return JSON.parse(stdout) as T;
        },
      });
    });
  });
}

/** Creates a temporary project with a sluice.yaml and landing files (paths relative to the project). */
export function makeProject(yaml: string, files: Readonly<Record<string, string | Buffer>> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "sluice-test-"));
  writeFileSync(join(dir, "sluice.yaml"), yaml);
  for (const [path, content] of Object.entries(files)) addFile(dir, path, content);
  return dir;
}

/** Writes a file into a project (creating folders). */
export function addFile(dir: string, path: string, content: string | Buffer): string {
  const full = join(dir, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, content);
  return full;
}

/** A one-pipeline project file. */
export function pipelineYaml(pipeline: string, extra = ""): string {
  return `warehouse: duckdb:warehouse.duckdb\nlanding: landing\npipelines:\n${pipeline
    .split("\n")
    .map((l) => (l ? `  ${l}` : l))
    .join("\n")}\n${extra}`;
}

/** The `run --json` document shape. */
export interface RunJson {
  runs: {
    run_id: string;
    pipeline: string;
    status: string;
    files: {
      path: string;
      sha256: string;
      status: string;
      archived_to: string | null;
      error: string | null;
      warnings: string[];
      rows: { read: number; loaded: number; quarantined: number; malformed: number; duplicates: number };
      /** CSV files: the layout read (see docs/messy-csv.md). */
      csv?: Record<string, unknown>;
    }[];
    rows: { read: number; loaded: number; quarantined: number; malformed: number; duplicates: number };
    checks: { name: string; severity: string; failed: number }[];
    error: string | null;
  }[];
}
