import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { goldenFixtures } from "./golden-fixtures.js";

describe("where the Delta golden tables are looked for", () => {
  let present = "";
  const absent = join(tmpdir(), "sluice-no-golden-tables-here");

  beforeAll(async () => {
    present = await mkdtemp(join(tmpdir(), "sluice-golden-dir-"));
  });
  afterAll(async () => {
    await rm(present, { recursive: true, force: true });
  });

  it("uses SLUICE_DELTA_GOLDEN when it names a folder", () => {
    const golden = goldenFixtures({ SLUICE_DELTA_GOLDEN: present, CI: "true" });
    expect(golden.skip).toBe(false);
    expect(golden.dir()).toBe(present);
  });

  it("outside CI, absent tables skip their tests and say where they were looked for", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const golden = goldenFixtures({ SLUICE_DELTA_GOLDEN: absent });
    expect(golden.skip).toBe(true);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining(absent));
    warn.mockRestore();
  });

  it("under CI=true, absent tables do not skip: their tests run and fail naming the folder", () => {
    const golden = goldenFixtures({ SLUICE_DELTA_GOLDEN: absent, CI: "true" });
    expect(golden.skip).toBe(false);
    expect(() => golden.dir()).toThrow(`the Delta golden tables are not at ${absent}`);
    expect(() => golden.dir()).toThrow(/required when CI=true/);
  });

  it("without SLUICE_DELTA_GOLDEN, looks in test/fixtures/delta-golden of the project", () => {
    const golden = goldenFixtures({ CI: "true" });
    const where = join(import.meta.dirname, "..", "fixtures", "delta-golden");
    const found = (): string => {
      try {
        return golden.dir();
      } catch (error) {
        return String(error);
      }
    };
    expect(found()).toContain(where);
  });
});
