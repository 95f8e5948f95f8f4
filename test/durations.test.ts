import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../src/durations.js";
import { SluiceError } from "../src/errors.js";

describe("parseDuration", () => {
  it.each([
    ["250ms", 250],
    ["5s", 5000],
    ["10m", 600_000],
    ["168h", 604_800_000],
    ["3d", 259_200_000],
    ["1w", 604_800_000],
    ["1.5s", 1500],
    ["0s", 0],
    ["1h30m", 5_400_000],
    ["1d 2h", 93_600_000],
    [" 2m ", 120_000],
  ])("%s -> %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "5", "5x", "s", "-5s", "5 s s", "1h-", "ten minutes", "5S"])("rejects %j", (text) => {
    expect(() => parseDuration(text)).toThrow(SluiceError);
  });

  it("names the setting and the expected form in the error", () => {
    try {
      parseDuration("5 mins", "pipelines.orders.source.stable_for");
      expect.unreachable();
    } catch (error) {
      expect((error as SluiceError).code).toBe("CONFIG_INVALID");
      expect((error as SluiceError).message).toBe(
        'pipelines.orders.source.stable_for: "5 mins" is not a duration; write it like 250ms, 5s, 10m, 168h, 3d or 1w',
      );
    }
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0ms"],
    [250, "250ms"],
    [1000, "1s"],
    [1540, "1.5s"],
    [59_999, "59.9s"],
    [60_000, "1m"],
    [90_000, "1m 30s"],
    [5_400_000, "1h 30m"],
    [3_600_000 + 5_000, "1h"],
    [259_200_000, "3d"],
    [604_800_000, "7d"],
    [93_600_000 + 61_000, "1d 2h"],
    [-2000, "-2s"],
  ])("%d ms -> %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it("round-trips through parseDuration for whole units", () => {
    for (const ms of [250, 5000, 90_000, 5_400_000, 93_600_000, 259_200_000]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });
});
