import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

/**
 * The packed tarball installed outside the repository, as a user gets it: the library imports as
 * `sluice`, the `sluice` binary runs. Dependencies come from the npm cache (no network needed). The
 * test packs the dist/ the global setup just built (`--ignore-scripts`: `prepare` would build it again).
 */
describe("the npm package, installed from its tarball", () => {
  let app: string;

  beforeAll(async () => {
    const root = mkdtempSync(join(tmpdir(), "sluice-package-"));
    const { stdout } = await run(npm, ["pack", "--ignore-scripts", "--json", "--pack-destination", root], {
      maxBuffer: 64 * 1024 * 1024,
    });
    const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    const files = packed!.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(["dist/index.js", "dist/index.d.ts", "dist/sluice.js"]));
    expect(files.some((f) => f.startsWith("src/") || f.startsWith("test/"))).toBe(false);
    app = join(root, "app");
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    await run(
      npm,
      [
        "install",
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        join(root, packed!.filename),
      ],
      { cwd: app },
    );
    // A project to load: one pipeline, one file with a row that fails its type.
    mkdirSync(join(app, "proj/landing/in"), { recursive: true });
    writeFileSync(
      join(app, "proj/sluice.yaml"),
      `warehouse: duckdb:warehouse.duckdb\nlanding: landing\npipelines:\n  orders:\n    source: { path: "in/*.csv" }\n    max_failure_rate: 0.5\n    columns: { id: { type: bigint } }\n    target: { table: orders }\n`,
    );
    writeFileSync(join(app, "proj/landing/in/a.csv"), "id,name\n1,a\n2,b\nthree,c\n");
  }, 300_000);

  it("import { openProject } from 'sluice' runs a pipeline, reads runs, quarantine and a streamed query", async () => {
    writeFileSync(
      join(app, "use.mjs"),
      `import { openProject } from "sluice";
const project = await openProject("proj/sluice.yaml");
const problems = await project.validate();
const reports = await project.run();
const runs = await project.runs({ limit: 5 });
const quarantine = await project.quarantine("orders");
const rows = [];
for await (const row of project.query("SELECT id, name FROM orders ORDER BY id")) rows.push(row);
await project.close();
console.log(JSON.stringify({ pipelines: project.pipelines, problems, reports, runs, quarantine, rows }));
`,
    );
    const { stdout } = await run(process.execPath, ["use.mjs"], { cwd: app });
    const out = JSON.parse(stdout);
    expect(out.pipelines).toEqual(["orders"]);
    expect(out.problems).toEqual([]);
    expect(out.reports).toHaveLength(1);
    expect(out.reports[0]).toMatchObject({ pipeline: "orders", status: "succeeded" });
    expect(out.reports[0].rows).toMatchObject({ read: 3, loaded: 2, quarantined: 1 });
    expect(out.runs.map((r: { run_id: string }) => r.run_id)).toEqual([out.reports[0].run_id]);
    expect(out.quarantine).toHaveLength(1);
    expect(out.quarantine[0]).toMatchObject({ file: "in/a.csv", line: 4 });
    expect(out.rows).toEqual([
      { id: 1, name: "a" },
      { id: 2, name: "b" },
    ]);
    // The types ship with it.
    expect(readdirSync(join(app, "node_modules/sluice/dist"))).toContain("index.d.ts");
  }, 120_000);

  it("the installed sluice binary runs, and its hints name how it was called", async () => {
    const bin = join(app, "node_modules/.bin/sluice");
    const runs = await run(bin, ["--config", "proj/sluice.yaml", "runs", "--json"], { cwd: app });
    expect(JSON.parse(runs.stdout).runs).toHaveLength(1);
    // From a project's node_modules: `npx sluice`; when `sluice` on PATH is this copy: `sluice`.
    const local = await run(bin, ["init", "p1"], { cwd: app });
    expect(local.stdout).toMatch(/^next: cd p1 && npx sluice validate && npx sluice run/m);
    const env = { ...process.env, PATH: `${join(app, "node_modules/.bin")}${delimiter}${process.env.PATH}` };
    const onPath = await run(bin, ["init", "p2"], { cwd: app, env });
    expect(onPath.stdout).toMatch(/^next: cd p2 && sluice validate && sluice run/m);
    // The starter config's schema comment names a file that exists beside it.
    expect(readdirSync(join(app, "p2"))).toContain("sluice.schema.json");
  }, 120_000);
});
