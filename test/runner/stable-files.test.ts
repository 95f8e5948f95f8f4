import { describe, expect, it } from "vitest";
import { createStableFiles } from "../../src/runner/stable-files.js";

const entry = (path: string, size: number, mtimeMs = 1) => ({ path, size, mtimeMs });

describe("stable file tracker", () => {
  it("hands a file out only after its signature has been stable for stable_for, once", () => {
    const files = createStableFiles({ stableForMs: () => 300 });
    files.observe("orders", [entry("in/a.csv", 10)], 1000);
    expect(files.take(1000)).toEqual({ ready: new Map(), nextCheckAt: 1300 });
    files.observe("orders", [entry("in/a.csv", 20, 2)], 1200); // still being written
    expect(files.take(1300).nextCheckAt).toBe(1500);
    files.observe("orders", [entry("in/a.csv", 20, 2)], 1500);
    expect(files.take(1500).ready.get("orders")).toEqual(["in/a.csv"]);
    expect(files.take(1600).ready.size).toBe(0);
  });

  it("batches a burst per pipeline and forgets files that were moved away", () => {
    const files = createStableFiles({ stableForMs: (p) => (p === "fast" ? 100 : 1000) });
    const burst = Array.from({ length: 1000 }, (_, i) => entry(`in/f${i}.csv`, 1));
    files.observe("fast", burst, 0);
    files.observe("slow", [entry("in/s.csv", 1)], 0);
    const taken = files.take(150);
    expect(taken.ready.get("fast")).toHaveLength(1000);
    expect(taken.ready.has("slow")).toBe(false);
    expect(taken.nextCheckAt).toBe(1000);
    files.settled("fast", [], 200);
    expect(files.size()).toBe(1);
  });

  it("offers a file whose run failed again after a growing backoff, or at once when it changed", () => {
    const files = createStableFiles({ stableForMs: () => 100, retryBaseMs: 1000 });
    files.observe("p", [entry("a", 1), entry("b", 1)], 0);
    files.take(100);
    files.settled("p", [entry("a", 1), entry("b", 2, 5)], 200);
    const next = files.take(250);
    expect(next.ready.size).toBe(0);
    expect(next.nextCheckAt).toBe(300); // b changed: a normal stable_for wait
    expect(files.take(300).ready.get("p")).toEqual(["b"]);
    expect(files.take(1200).ready.get("p")).toEqual(["a"]);
    files.settled("p", [entry("a", 1)], 1300);
    expect(files.take(2300).ready.size).toBe(0);
    expect(files.take(3300).ready.get("p")).toEqual(["a"]);
  });
});

describe("stable file tracker trusting mtimes (local files)", () => {
  it("counts stability from the last write, not from when the file was noticed", () => {
    const files = createStableFiles({ stableForMs: () => 300, trustMtime: true });
    files.observe("p", [entry("a", 1, 1000)], 1250);
    expect(files.take(1250).nextCheckAt).toBe(1300);
    expect(files.take(1300).ready.get("p")).toEqual(["a"]);
    // An mtime in the future (clock skew) never shortens the wait.
    files.observe("p", [entry("a", 1, 1000), entry("b", 1, 9999)], 2000);
    expect(files.take(2000).nextCheckAt).toBe(2300);
  });
});
