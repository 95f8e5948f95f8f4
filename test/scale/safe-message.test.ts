import { describe, expect, it } from "vitest";
import { safeMessage } from "../../src/scale/work-queue.js";

describe("safeMessage (queue notices and job records)", () => {
  it("masks the database password wherever the driver repeats it, and credentials in any URL", () => {
    const error = new Error(
      'password "hunter2" rejected; retry via postgres://sluice:hunter2@db:5432/w and s3 https://key:s3cret@minio/b',
    );
    const out = safeMessage(error, "hunter2");
    expect(out).not.toContain("hunter2");
    expect(out).not.toContain("s3cret");
    expect(out).toContain("db:5432");
  });

  it("takes non-Error values", () => {
    expect(safeMessage("plain failure", undefined)).toBe("plain failure");
  });
});
