import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { addFile, makeProject, sluice } from "../support/cli.js";

/** A local port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("a PostgreSQL warehouse on a wrong port", () => {
  it("says what failed in one line, without a line per retry", async () => {
    const port = await closedPort();
    const dir = makeProject(
      `warehouse: postgres://sluice@127.0.0.1:${port}/test\nlanding: landing\npipelines:\n  a:\n    source: { path: "in/*.csv" }\n    target: { table: a }\n`,
    );
    addFile(dir, "landing/in/x.csv", "id\n1\n");
    const r = await sluice(["run"], dir);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^error: PostgreSQL sluice@127\\.0\\.0\\.1:${port}/test: connection refused .*host and port`,
      ),
    );
  }, 60_000);
});
