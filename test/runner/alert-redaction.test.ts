import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { redactUrl, redactUrls } from "../../src/redact.js";
import type { RunReport } from "../../src/run/run-report.js";
import { createAlerter } from "../../src/runner/alerts.js";
import { makeProject, sluice } from "../support/cli.js";

describe("redactUrl", () => {
  it.each([
    ["http://user:PW@host/hook?token=T", "http://***@host/hook?…"],
    ["postgres://app:p@ss/w0rd@db:5432/shop?sslmode=require", "postgres://***@db:5432/shop?…"],
    ["https://host:8443/path#frag", "https://host:8443/path?…"],
    ["s3://bucket/prefix", "s3://bucket/prefix"],
  ])("%s → %s", (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });

  it("drops the path of a webhook too; finds URLs inside a message", () => {
    expect(redactUrl("https://hooks.slack.com/services/T/B/X", { keepPath: false })).toBe(
      "https://hooks.slack.com/…",
    );
    expect(
      redactUrls("Request cannot be constructed from a URL that includes credentials: http://u:PW@h/x?t=T"),
    ).toBe("Request cannot be constructed from a URL that includes credentials: http://***@h/x?…");
  });
});

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

const failed = {
  run_id: "r1",
  pipeline: "orders",
  status: "failed",
  rows: { read: 0, loaded: 0, quarantined: 0, malformed: 0, duplicates: 0 },
  files: [],
  checks: [],
  error: "boom",
} as unknown as RunReport;

describe("alert delivery failures", () => {
  it.each([
    ["credentials", (port: number) => `http://user:PW-secret@127.0.0.1:${port}/hook?token=T-secret`],
    ["a token", (port: number) => `http://127.0.0.1:${port}/hook/T-secret?token=T-secret`],
  ])("never print a webhook's %s", async (_name, url) => {
    const notices: string[] = [];
    const alerter = createAlerter([{ webhook: url(await closedPort()), on: ["failure"] }], {
      retries: 0,
      notice: (m) => notices.push(m),
    });
    alerter.notify(failed);
    await alerter.flush(5000);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/^alert not delivered: webhook http:\/\/(\*\*\*@)?127\.0\.0\.1:\d+\/…: /);
    expect(notices[0]).not.toMatch(/secret/);
  });

  it("validate refuses a webhook URL with credentials (fetch can never post to it), without printing it", async () => {
    const dir = makeProject(
      `alerts:\n  - { webhook: "http://user:PW-secret@127.0.0.1:9/hook?token=T-secret" }\npipelines:\n  t:\n    source: { path: "in/*.csv" }\n    target: { table: t }\n`,
    );
    const validate = await sluice(["validate"], dir);
    expect(validate.code).toBe(2);
    expect(validate.stderr).toContain(
      "alerts[0].webhook: must be an http(s) URL without user:password@ (it could never be delivered)",
    );
    expect(validate.stdout + validate.stderr).not.toMatch(/secret/);
  });
});
