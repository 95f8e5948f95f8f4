import { describe, expect, it } from "vitest";
import { SluiceError } from "../../src/errors.js";
import { createCircuitBreaker } from "../../src/resilience/circuit-breaker.js";

function fakeClock(start = Date.parse("2026-03-01T10:00:00Z")) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number): void => {
      t += ms;
    },
  };
}

const failing = () => Promise.reject(new Error("connection refused"));

async function failTimes(breaker: ReturnType<typeof createCircuitBreaker>, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await expect(breaker.run(failing)).rejects.toThrow("connection refused");
}

describe("createCircuitBreaker", () => {
  it("opens after N consecutive failures and then fails fast with CIRCUIT_OPEN", async () => {
    const clock = fakeClock();
    const breaker = createCircuitBreaker({
      name: "S3 s3://acme/landing",
      failureThreshold: 3,
      openMs: 60_000,
      now: clock.now,
    });
    await failTimes(breaker, 2);
    expect(breaker.state()).toBe("closed");
    await failTimes(breaker, 1);
    expect(breaker.state()).toBe("open");

    let called = false;
    const error = await breaker
      .run(async () => {
        called = true;
      })
      .catch((e: unknown) => e as SluiceError);
    expect(called).toBe(false);
    expect(error).toBeInstanceOf(SluiceError);
    expect(error?.code).toBe("CIRCUIT_OPEN");
    expect(error?.transient).toBe(true);
    expect(error?.message).toBe(
      "S3 s3://acme/landing is unavailable (connection refused); circuit breaker open after 3 consecutive " +
        "failures: calls fail fast for 1m (until 2026-03-01T10:01:00.000Z)",
    );
  });

  it("a success resets the consecutive-failure count", async () => {
    const breaker = createCircuitBreaker({ name: "pg", failureThreshold: 3, now: fakeClock().now });
    await failTimes(breaker, 2);
    await breaker.run(async () => 1);
    expect(breaker.failures()).toBe(0);
    await failTimes(breaker, 2);
    expect(breaker.state()).toBe("closed");
  });

  it("after openMs lets exactly one probe through; its success closes the circuit", async () => {
    const clock = fakeClock();
    const breaker = createCircuitBreaker({ name: "pg", failureThreshold: 2, openMs: 30_000, now: clock.now });
    await failTimes(breaker, 2);
    clock.advance(29_999);
    expect(breaker.state()).toBe("open");
    clock.advance(1);
    expect(breaker.state()).toBe("half-open");

    let release: (value: string) => void = () => undefined;
    const probe = breaker.run(
      () =>
        new Promise<string>((resolve) => {
          release = resolve;
        }),
    );
    // While the probe is in flight, other calls still fail fast.
    await expect(breaker.run(async () => "second")).rejects.toMatchObject({ code: "CIRCUIT_OPEN" });
    release("probed");
    await expect(probe).resolves.toBe("probed");
    expect(breaker.state()).toBe("closed");
    await expect(breaker.run(async () => "next")).resolves.toBe("next");
  });

  it("a failed probe opens the circuit for another openMs", async () => {
    const clock = fakeClock();
    const breaker = createCircuitBreaker({ name: "pg", failureThreshold: 2, openMs: 10_000, now: clock.now });
    await failTimes(breaker, 2);
    clock.advance(10_000);
    await failTimes(breaker, 1);
    expect(breaker.state()).toBe("open");
    clock.advance(9_000);
    await expect(breaker.run(async () => 1)).rejects.toMatchObject({ code: "CIRCUIT_OPEN" });
    clock.advance(1_000);
    await expect(breaker.run(async () => 1)).resolves.toBe(1);
    expect(breaker.state()).toBe("closed");
  });

  it("errors the classifier does not count leave the circuit closed", async () => {
    const breaker = createCircuitBreaker({
      name: "S3",
      failureThreshold: 1,
      now: fakeClock().now,
      isFailure: (e) => e instanceof SluiceError && e.transient,
    });
    await expect(
      breaker.run(() => Promise.reject(new SluiceError("STORAGE_ERROR", "denied"))),
    ).rejects.toThrow("denied");
    expect(breaker.state()).toBe("closed");
    await expect(
      breaker.run(() => Promise.reject(new SluiceError("STORAGE_ERROR", "slow down", { transient: true }))),
    ).rejects.toThrow("slow down");
    expect(breaker.state()).toBe("open");
  });

  it("reset closes an open circuit", async () => {
    const breaker = createCircuitBreaker({ name: "x", failureThreshold: 1, now: fakeClock().now });
    await failTimes(breaker, 1);
    expect(breaker.state()).toBe("open");
    breaker.reset();
    expect(breaker.state()).toBe("closed");
    expect(breaker.failures()).toBe(0);
  });
});
