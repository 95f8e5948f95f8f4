import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadSnapshot, writeDelta } from "../../src/lake/index.js";
import { localStorage } from "../../src/storage/local-storage.js";
import { useMemoryDuckdb } from "../support/memory-duckdb.js";

const db = useMemoryDuckdb("sluice-delta-temp-commit-");

// A writer through the commit coordinator first writes its commit as `_delta_log/.tmp/<version>.json.<uuid>`.
// One cut off there (a PostgreSQL restart) leaves that file before any commit exists. Another writer took
// it for a commit, loaded the table, and failed with "not a Delta table (no commits in _delta_log)":
// a lasting error, so the run failed (and a queue worker counted a failed unit).
describe("writeDelta beside a temporary commit copy, before the first commit", () => {
  it("creates version 0: a file under _delta_log/.tmp is no commit", async () => {
    const table = { storage: localStorage(db.dir), path: "parts" };
    await mkdir(join(db.dir, "parts/_delta_log/.tmp"), { recursive: true });
    await writeFile(
      join(db.dir, "parts/_delta_log/.tmp/00000000000000000000.json.0f8e1b7e-3c1d-4a53-9a55-2f1d0e7c9b11"),
      '{"commitInfo":{}}\n',
    );
    const result = await writeDelta(db.con, table, "SELECT range::BIGINT AS id FROM range(3)", {
      appId: "parts",
      txnVersion: 1,
    });
    expect(result.version).toBe(0);
    expect((await loadSnapshot(db.con, table)).version).toBe(0);
  });
});
