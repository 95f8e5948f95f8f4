import { describe, expect, it } from "vitest";
import { makeProject, sluice } from "../support/cli.js";

const project = (source: string, mode = "append") =>
  makeProject(
    `pipelines:\n  events:\n    source:\n${source}\n    target: { table: events, mode: ${mode} }\n`,
  );

describe("stream source configuration", () => {
  it("validates a NATS and a Redis source with their defaults", async () => {
    const nats = await sluice(
      ["validate"],
      project(
        '      stream: { kind: nats, stream: EVENTS, durable: sluice }\n      dead_letter: { subject: "events.dead" }',
      ),
    );
    expect(nats.code, nats.stderr).toBe(0);
    const redis = await sluice(
      ["validate"],
      project("      stream: { kind: redis, key: events, group: sluice }"),
    );
    expect(redis.code, redis.stderr).toBe(0);
  });

  it("names the key of each problem, without the URL's password", async () => {
    const r = await sluice(
      ["validate"],
      project(
        '      stream: { kind: redis, url: "nats://u:hunter2@h:4222", key: k, group: g }\n      batch: { max_bytes: lots }\n      dead_letter: { subject: dead }',
        "replace",
      ),
    );
    expect(r.code).toBe(2);
    const out = `${r.stdout}${r.stderr}`;
    expect(out).toMatch(/pipelines\.events\.source\.batch\.max_bytes: expected a size like 16MB/);
    expect(out).not.toContain("hunter2");
  });

  it("refuses a URL of the other kind, a dead letter of the other kind and mode: replace", async () => {
    const r = await sluice(
      ["validate"],
      project(
        '      stream: { kind: redis, url: "nats://u:hunter2@h:4222", key: k, group: g }\n      dead_letter: { subject: dead }',
        "replace",
      ),
    );
    expect(r.code).toBe(2);
    const out = `${r.stdout}${r.stderr}`;
    expect(out).toMatch(
      /pipelines\.events\.source\.stream\.url: nats:\/\/\*\*\*@h:4222: expected redis:\/\/host:6379/,
    );
    expect(out).toMatch(
      /pipelines\.events\.source\.dead_letter: a Redis stream's dead letter is \{ key: \.\.\. \}/,
    );
    expect(out).toMatch(/pipelines\.events\.target\.mode: replace would keep only the last micro-batch/);
    expect(out).not.toContain("hunter2");
  });
});
