import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunJson, sluice } from "../support/cli.js";
import { extractYamlExamples, repositoryExamples } from "../support/doc-examples.js";

// Every complete sluice.yaml in the README and docs/ must work as pasted into a project made by
// `sluice init` (convention and markers: docs/internals.md, "Documentation examples").
const examples = repositoryExamples(process.cwd());
const runnable = examples.filter((e) => e.use !== "fragment");
const folders: string[] = [];
// Strict: an example that needs the mask salt must say so; none may rely on the tester's environment.
const env = { SLUICE_MASK_SALT: "" };

afterAll(() => {
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

let starter = "";

// `sluice init` once; each example gets a copy of that project (one process fewer per example).
beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-doc-examples-"));
  folders.push(dir);
  const init = await sluice(["init", "starter"], dir, { env });
  expect(init.code, init.stderr).toBe(0);
  starter = join(dir, "starter");
});

/** A copy of the `sluice init` project with `yaml` as its sluice.yaml. */
function starterProject(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), "sluice-doc-example-"));
  folders.push(dir);
  cpSync(starter, dir, { recursive: true });
  writeFileSync(join(dir, "sluice.yaml"), yaml);
  return dir;
}

describe("finding the examples", () => {
  it("a block with pipelines: runs, others are fragments, markers override", () => {
    const page = [
      "```yaml",
      "pipelines: { a: { source: { path: x }, target: { table: a } } }",
      "```",
      "```yaml",
      "target: { table: a }",
      "```",
      "<!-- example: validate-only -->",
      "```yaml",
      "pipelines: {}",
      "```",
      "<!-- example: fragment -->",
      "```yaml",
      "pipelines: { b: {} }",
      "```",
      "```sh",
      "pipelines:",
      "```",
    ].join("\n");
    const found = extractYamlExamples("page.md", page);
    expect(found.map((e) => [e.line, e.use])).toEqual([
      [1, "run"],
      [4, "fragment"],
      [8, "validate-only"],
      [12, "fragment"],
    ]);
    expect(() => extractYamlExamples("p.md", "<!-- example: runable -->\n```yaml\na: 1\n```")).toThrow(
      'p.md:1: unknown example marker "runable"',
    );
  });

  it("the README has a runnable example, and so do the docs", () => {
    expect(runnable.some((e) => e.file === "README.md" && e.use === "run")).toBe(true);
    expect(runnable.filter((e) => e.file.startsWith("docs/")).length).toBeGreaterThan(0);
  });
});

describe.each(runnable.map((e) => [`${e.file}:${e.line}`, e] as const))("example %s", (_name, example) => {
  it(`${example.use === "run" ? "validates and runs" : "validates"} against the starter data`, async () => {
    const project = starterProject(example.yaml);
    const validate = await sluice(["validate"], project, { env });
    expect(validate.code, validate.stdout + validate.stderr).toBe(0);
    if (example.use === "validate-only") return;
    const run = await sluice(["run", "--json"], project, { env });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const loaded = run.json<RunJson>().runs.reduce((sum, r) => sum + r.rows.loaded, 0);
    expect(loaded, run.stdout).toBeGreaterThan(0);
  });
});
