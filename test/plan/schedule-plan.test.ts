import { describe, expect, it } from "vitest";
import { cronProblem, missedFire, nextFire } from "../../src/plan/schedule-plan.js";

describe("schedule plan", () => {
  it("accepts valid cron expressions and time zones, rejects invalid ones with a reason", () => {
    expect(cronProblem("0 2 * * *")).toBeNull();
    expect(cronProblem("*/5 * * * * *", "Europe/Paris")).toBeNull();
    expect(cronProblem("61 * * * *")).toMatch(/invalid cron expression "61 \* \* \* \*": .*minute/);
    expect(cronProblem("every day")).toMatch(/invalid cron expression/);
    expect(cronProblem("0 2 * * *", "Mars/Base")).toMatch(/unknown time zone "Mars\/Base"/);
  });

  it("computes the next fire time in the pipeline's time zone", () => {
    expect(nextFire("0 2 * * *", "UTC", new Date("2026-01-01T03:00:00Z"))?.toISOString()).toBe(
      "2026-01-02T02:00:00.000Z",
    );
    // 02:00 in Paris is 01:00 UTC in winter.
    expect(nextFire("0 2 * * *", "Europe/Paris", new Date("2026-01-01T03:00:00Z"))?.toISOString()).toBe(
      "2026-01-02T01:00:00.000Z",
    );
  });

  it("finds the latest missed fire time after downtime, and none without history or when up to date", () => {
    const last = new Date("2026-01-01T02:00:00Z");
    expect(missedFire("0 2 * * *", "UTC", last, new Date("2026-01-03T09:00:00Z"))?.toISOString()).toBe(
      "2026-01-03T02:00:00.000Z",
    );
    expect(missedFire("0 2 * * *", "UTC", last, new Date("2026-01-02T01:59:00Z"))).toBeNull();
    expect(missedFire("0 2 * * *", "UTC", null, new Date("2026-01-03T09:00:00Z"))).toBeNull();
  });
});
