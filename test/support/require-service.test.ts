import { afterEach, describe, expect, it, vi } from "vitest";
import { serviceAvailable } from "./require-service.js";

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe("serviceAvailable", () => {
  it("is true when the check passes", async () => {
    expect(await serviceAvailable("PostgreSQL", async () => undefined)).toBe(true);
  });

  it("outside CI, prints why and returns false when the check fails", async () => {
    vi.stubEnv("CI", "");
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const available = await serviceAvailable("NATS at 127.0.0.1:4222", async () => {
      throw new Error("connect ECONNREFUSED 127.0.0.1:4222");
    });
    expect(available).toBe(false);
    expect(warn).toHaveBeenCalledWith(
      "[skipped] NATS at 127.0.0.1:4222 is not available (connect ECONNREFUSED 127.0.0.1:4222); " +
        "its tests are skipped. With CI=true this fails.",
    );
  });

  it("in CI (CI=true), fails instead of skipping", async () => {
    vi.stubEnv("CI", "true");
    await expect(
      serviceAvailable("PostgreSQL", async () => {
        throw new Error("password authentication failed");
      }),
    ).rejects.toThrow(
      "PostgreSQL is required when CI=true but is not available: password authentication failed",
    );
  });
});
