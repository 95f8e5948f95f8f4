import { describe, expect, it } from "vitest";
import { SluiceError } from "../../src/errors.js";
import { attemptsOf, backoffDelay, retriedBelow, withRetry } from "../../src/resilience/retry.js";

const transient = (n: number) => new SluiceError("STORAGE_ERROR", `boom ${n}`, { transient: true });
const noSleep = { sleep: async () => undefined };

describe("withRetry", () => {
  it("returns the first success and passes the attempt number", async () => {
    const seen: number[] = [];
    const result = await withRetry(
      async (attempt) => {
        seen.push(attempt);
        if (attempt < 3) throw transient(attempt);
        return "ok";
      },
      { max: 5, baseMs: 10, maxDelayMs: 100, ...noSleep },
    );
    expect(result).toBe("ok");
    expect(seen).toEqual([1, 2, 3]);
  });

  it("throws a non-transient error at once, unchanged", async () => {
    const terminal = new SluiceError("STORAGE_ERROR", "denied");
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw terminal;
        },
        { max: 5, baseMs: 1, maxDelayMs: 1, ...noSleep },
      ),
    ).rejects.toBe(terminal);
    expect(calls).toBe(1);
  });

  it("gives up after max retries with the last error annotated with the attempt count", async () => {
    let calls = 0;
    const error = await withRetry(
      async () => {
        calls++;
        throw transient(calls);
      },
      { max: 2, baseMs: 1, maxDelayMs: 1, ...noSleep },
    ).catch((e: unknown) => e);
    expect(calls).toBe(3);
    expect(error).toBeInstanceOf(SluiceError);
    const sluice = error as SluiceError;
    expect(sluice.code).toBe("STORAGE_ERROR");
    expect(sluice.transient).toBe(true);
    expect(sluice.message).toBe("boom 3 (gave up after 3 attempts)");
    expect(attemptsOf(sluice)).toBe(3);
    expect((sluice.cause as SluiceError).message).toBe("boom 3");
  });

  it("uses a custom classifier and annotates plain errors in place", async () => {
    const error = await withRetry(
      async () => {
        throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
      },
      {
        max: 1,
        baseMs: 1,
        maxDelayMs: 1,
        isTransient: (e) => (e as { code?: string }).code === "ECONNRESET",
        ...noSleep,
      },
    ).catch((e: unknown) => e as Error);
    expect(error.message).toBe("socket hang up (gave up after 2 attempts)");
    expect(attemptsOf(error)).toBe(2);
  });

  it("waits with full jitter under an exponential cap and reports each retry", async () => {
    const delays: number[] = [];
    const reported: number[] = [];
    await withRetry(
      async (attempt) => {
        if (attempt <= 5) throw transient(attempt);
      },
      {
        max: 5,
        baseMs: 100,
        maxDelayMs: 1000,
        random: () => 0.5,
        sleep: async (ms) => {
          delays.push(ms);
        },
        onRetry: ({ attempt, delayMs }) => reported.push(attempt * 100_000 + delayMs),
      },
    );
    expect(delays).toEqual([50, 100, 200, 400, 500]);
    expect(reported).toEqual([100_050, 200_100, 300_200, 400_400, 500_500]);
  });

  it("equal jitter waits at least half of each cap", async () => {
    const waits = async (random: () => number) => {
      const delays: number[] = [];
      await withRetry(
        async (attempt) => {
          if (attempt <= 4) throw transient(attempt);
        },
        {
          max: 4,
          baseMs: 100,
          maxDelayMs: 1000,
          jitter: "equal",
          random,
          sleep: async (ms) => void delays.push(ms),
        },
      );
      return delays;
    };
    expect(await waits(() => 0)).toEqual([50, 100, 200, 400]);
    expect(await waits(() => 0.999)).toEqual([99, 199, 399, 799]);
  });

  it("backoffDelay spans [0, cap) with the random source", () => {
    expect(backoffDelay(1, 1000, 60_000, () => 0)).toBe(0);
    expect(backoffDelay(4, 1000, 60_000, () => 0.999)).toBe(7992);
    expect(backoffDelay(30, 1000, 60_000, () => 0.999)).toBe(59_940);
  });

  it("really sleeps between attempts (short)", async () => {
    const started = Date.now();
    await withRetry(
      async (attempt) => {
        if (attempt === 1) throw transient(1);
      },
      { max: 1, baseMs: 40, maxDelayMs: 40, random: () => 0.99 },
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(35);
  });

  it("stops when the signal aborts during a wait", async () => {
    const controller = new AbortController();
    let calls = 0;
    const promise = withRetry(
      async () => {
        calls++;
        throw transient(calls);
      },
      { max: 10, baseMs: 10_000, maxDelayMs: 10_000, random: () => 1, signal: controller.signal },
    );
    setTimeout(() => controller.abort(new Error("shutting down")), 10);
    await expect(promise).rejects.toThrow("shutting down");
    expect(calls).toBe(1);
  });

  it("does not start when the signal is already aborted", async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
        },
        { max: 1, baseMs: 1, maxDelayMs: 1, signal: AbortSignal.abort(new Error("cancelled")) },
      ),
    ).rejects.toThrow("cancelled");
    expect(calls).toBe(0);
  });
});

describe("one level retries a failure", () => {
  it("an outer retry leaves alone a failure an inner one gave up on: attempts add up to the inner budget", async () => {
    let calls = 0;
    const inner = () =>
      withRetry(
        async () => {
          calls++;
          throw transient(calls);
        },
        { max: 3, baseMs: 1, maxDelayMs: 1, ...noSleep },
      );
    // A caller wraps the backend's error (as a file or run failure does) before it reaches the outer retry.
    const outer = withRetry(
      async () => {
        try {
          return await inner();
        } catch (error) {
          throw new SluiceError("STORAGE_ERROR", "run failed", { cause: error, transient: true });
        }
      },
      { max: 2, baseMs: 1, maxDelayMs: 1, isTransient: (e) => !retriedBelow(e), ...noSleep },
    );
    await expect(outer).rejects.toThrow("run failed");
    expect(calls).toBe(4);
  });

  it("a failure no level retried yet is the outer level's to retry", async () => {
    expect(retriedBelow(transient(1))).toBe(false);
    expect(retriedBelow(new Error("x", { cause: transient(1) }))).toBe(false);
    expect(retriedBelow(null)).toBe(false);
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw transient(calls);
        },
        { max: 2, baseMs: 1, maxDelayMs: 1, isTransient: (e) => !retriedBelow(e), ...noSleep },
      ),
    ).rejects.toThrow("gave up after 3 attempts");
    expect(calls).toBe(3);
  });
});
