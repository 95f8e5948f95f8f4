import { describe, expect, it } from "vitest";
import { scratchDir, scratchRoot } from "../../src/storage/scratch-dir.js";

describe("scratch folders", () => {
  it("one root per process, a work folder named by host and pid (reclaimed by work-dir); folders below it", () => {
    const root = scratchRoot();
    expect(root).toMatch(new RegExp(`sluice-work-[0-9a-f]{8}-${process.pid}-`));
    expect(scratchRoot()).toBe(root);
    expect(scratchDir("run-").startsWith(`${root}/run-`)).toBe(true);
  });
});
