import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadProject } from "../../src/project/load-config.js";
import { BACKGROUND_HASH_MIN_BYTES } from "../../src/run/acquire-file.js";
import { createProjectContext, type ProjectContext } from "../../src/run/project-context.js";
import { runProject } from "../../src/runner/run-project.js";
import { addFile, makeProject, pipelineYaml } from "../support/cli.js";
import { runLogMessages } from "../support/run-log.js";

// Files are known by content (SHA-256), and content can only repeat a loaded file of the same size: a
// file of a size the pipeline has not loaded is read while it is hashed, any other is hashed first.
// These tests pin that the ledger still gets every file's hash, that duplicates are still caught (by
// size, by content within a run, and when another run loads the same content meanwhile), and that a
// file failing for its data while still hashing moves to unprocessed/ with its hash.

const sha = (text: string) => createHash("sha256").update(text).digest("hex");

async function context(dir: string, hideSizes = false): Promise<ProjectContext> {
  const ctx = createProjectContext(await loadProject({ cwd: dir }));
  if (!hideSizes) return ctx;
  // Another run loading the same content between this run's ledger lookup and its commit looks, to
  // this run, like a ledger without that size: simulated by hiding the size lookup's answer.
  return {
    ...ctx,
    async openWarehouse(options) {
      const warehouse = await ctx.openWarehouse(options);
      return {
        ...warehouse,
        query: async (sql: string) => (/ AND size = \d+/.test(sql) ? [] : warehouse.query(sql)),
      };
    },
  };
}

async function ledger(dir: string) {
  const warehouse = await createProjectContext(await loadProject({ cwd: dir })).openWarehouse();
  try {
    return await warehouse.query(
      "SELECT path, sha256, size, status, archived_to FROM sluice.files ORDER BY received_at, path",
    );
  } finally {
    await warehouse.close();
  }
}

async function rowCount(dir: string, table: string): Promise<number> {
  const warehouse = await createProjectContext(await loadProject({ cwd: dir })).openWarehouse();
  try {
    return Number((await warehouse.query(`SELECT count(*) AS n FROM ${table}`))[0]!.n);
  } finally {
    await warehouse.close();
  }
}

const plain = pipelineYaml(`t:\n  source: { path: "in/*.csv" }\n  target: { table: t }`);
const checked = pipelineYaml(
  `t:\n  source: { path: "in/*.csv" }\n  checks:\n    - { rule: not_null, columns: [id] }\n  target: { table: t }`,
);

describe.each([
  ["single pass", plain, true],
  ["checked (probed, then a single pass)", checked, true],
  ["checked (staged)", checked, false],
])("hashing while reading: %s", (_, yaml, singlePass) => {
  const previous = process.env.SLUICE_SINGLE_PASS;
  beforeEach(() => {
    if (!singlePass) process.env.SLUICE_SINGLE_PASS = "0";
  });
  afterEach(() => {
    if (previous === undefined) delete process.env.SLUICE_SINGLE_PASS;
    else process.env.SLUICE_SINGLE_PASS = previous;
  });
  it("records every file's hash; same-size files are hashed first; duplicates are skipped", async () => {
    const a = "id,name\n1,ann\n2,bob\n";
    const sameSize = "id,name\n3,cat\n4,dan\n";
    const dir = makeProject(yaml, { "landing/in/a.csv": a });
    const [first] = await runProject(await context(dir));
    expect(first!.files.map((f) => [f.status, f.sha256, f.size])).toEqual([["loaded", sha(a), a.length]]);

    // Same size, other content: hashed before reading, then loaded. Same content, other name: skipped.
    addFile(dir, "landing/in/b.csv", sameSize);
    addFile(dir, "landing/in/c.csv", a);
    const [second] = await runProject(await context(dir));
    expect(second!.files.map((f) => [f.path, f.status, f.sha256])).toEqual([
      ["in/b.csv", "loaded", sha(sameSize)],
      ["in/c.csv", "skipped_duplicate", sha(a)],
    ]);
    expect(await rowCount(dir, "t")).toBe(4);
    expect((await ledger(dir)).map((r) => [r.path, r.sha256, r.status])).toEqual([
      ["in/a.csv", sha(a), "loaded"],
      ["in/b.csv", sha(sameSize), "loaded"],
      ["in/c.csv", sha(a), "skipped_duplicate"],
    ]);
  });

  it("two files of one run with the same content: the second is a duplicate", async () => {
    const text = "id,name\n1,ann\n";
    const dir = makeProject(yaml, { "landing/in/a.csv": text, "landing/in/b.csv": text });
    const [report] = await runProject(await context(dir));
    expect(report!.files.map((f) => [f.path, f.status])).toEqual([
      ["in/a.csv", "loaded"],
      ["in/b.csv", "skipped_duplicate"],
    ]);
    expect(await rowCount(dir, "t")).toBe(1);
  });

  it("content loaded meanwhile by another run is not loaded twice", async () => {
    const text = "id,name\n1,ann\n2,bob\n";
    const dir = makeProject(yaml, { "landing/in/a.csv": text });
    await runProject(await context(dir));
    addFile(dir, "landing/in/copy.csv", text);
    const [report] = await runProject(await context(dir, true));
    expect(report!.files.map((f) => [f.path, f.status, f.sha256])).toEqual([
      ["in/copy.csv", "skipped_duplicate", sha(text)],
    ]);
    expect(await rowCount(dir, "t")).toBe(2);
    expect(existsSync(join(dir, "landing/in/copy.csv"))).toBe(false);
  });
});

describe("hashing while reading: a big file", () => {
  it("is hashed in a background thread while it is read; the ledger has its hash", async () => {
    const row = (i: number) => `${i},${"x".repeat(1000)}\n`;
    const rows = Math.ceil(BACKGROUND_HASH_MIN_BYTES / row(0).length) + 1;
    const text = `id,name\n${Array.from({ length: rows }, (_, i) => row(i)).join("")}`;
    const dir = makeProject(plain, { "landing/in/big.csv": text });
    const [report] = await runProject(await context(dir));
    expect(report!.files.map((f) => [f.status, f.sha256, f.size])).toEqual([
      ["loaded", sha(text), text.length],
    ]);
    expect(await rowCount(dir, "t")).toBe(rows);
    // The same content again, under another name: hashed (in the background) before it is read.
    addFile(dir, "landing/in/again.csv", text);
    const [again] = await runProject(await context(dir));
    expect(again!.files.map((f) => [f.path, f.status])).toEqual([["in/again.csv", "skipped_duplicate"]]);
  });
});

describe("hashing while reading: failures", () => {
  it("a file that fails for its data while hashing moves to unprocessed/ with its hash", async () => {
    const garbage = "this is not parquet at all";
    const dir = makeProject(
      pipelineYaml(`t:\n  source: { path: "in/*.bin", format: parquet }\n  target: { table: t }`),
      { "landing/in/x.bin": garbage },
    );
    const [report] = await runProject(await context(dir));
    const file = report!.files[0]!;
    expect(file.status).toBe("failed");
    expect(file.sha256).toBe(sha(garbage));
    expect(file.archived_to).toMatch(/^unprocessed\/t\/\d{4}\/\d{2}\/x_\d{14}\.bin$/);
    expect(existsSync(join(dir, "landing", file.archived_to!))).toBe(true);
    expect((await ledger(dir)).map((r) => [r.sha256, r.status])).toEqual([[sha(garbage), "failed"]]);
  });

  it("the single pass logs the file planned without a hash and read with it", async () => {
    const text = "id,name\n1,ann\n";
    const dir = makeProject(plain, { "landing/in/a.csv": text });
    await runProject(await context(dir));
    const messages = runLogMessages(dir);
    expect(messages).toContain("planned");
    expect(messages).toContain("read");
    expect(messages).not.toContain("single pass undone; reading the files again, staged");
  });
});
