import { describe, expect, it } from "vitest";
import {
  fitsFileName,
  landingDestination,
  MAX_NAME_BYTES,
  stampedName,
} from "../../src/plan/landing-paths.js";

const at = new Date("2026-11-21T22:33:44Z");

describe("landingDestination", () => {
  it("keeps ordinary names and their compression suffixes", () => {
    expect(landingDestination("archive", "orders", "in/orders/a b.csv.gz", at)).toBe(
      "archive/orders/2026/11/a b_20261121223344.csv.gz",
    );
    expect(landingDestination("unprocessed", "orders", "in/x.csv", at, 2)).toBe(
      "unprocessed/orders/2026/11/x_20261121223344_3.csv",
    );
  });

  it("shortens a name too long to take the timestamp, within 255 bytes, keeping long names apart", () => {
    for (const stem of ["a".repeat(240), "é".repeat(120), "😀".repeat(61), "a".repeat(1000)]) {
      const one = landingDestination("archive", "p", `in/${stem}.csv`, at);
      const name = one.split("/").pop()!;
      expect(Buffer.byteLength(name), stem.slice(0, 4)).toBeLessThanOrEqual(MAX_NAME_BYTES);
      expect(name).toMatch(/~[0-9a-f]{8}_20261121223344\.csv$/);
      expect(name.includes("\uFFFD")).toBe(false);
      const retried = landingDestination("archive", "p", `in/${stem}.csv`, at, 998);
      expect(Buffer.byteLength(retried.split("/").pop()!)).toBeLessThanOrEqual(MAX_NAME_BYTES);
      expect(fitsFileName(retried)).toBe(true);
    }
    const a = landingDestination("archive", "p", `in/${"x".repeat(300)}a.csv`, at);
    const b = landingDestination("archive", "p", `in/${"x".repeat(300)}b.csv`, at);
    expect(a).not.toBe(b);
  });

  it("leaves an extension too long to keep in the shortened stem", () => {
    const name = stampedName(`a.${"e".repeat(300)}`, "_20261121223344");
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(MAX_NAME_BYTES);
    expect(name).toMatch(/^a\.e+~[0-9a-f]{8}_20261121223344$/);
  });

  it("fitsFileName spots a part longer than a file name may be", () => {
    expect(fitsFileName(`archive/p/2026/11/${"a".repeat(255)}`)).toBe(true);
    expect(fitsFileName(`archive/p/2026/11/${"a".repeat(256)}`)).toBe(false);
  });
});
