import { describe, expect, it } from "vitest";
import { mayHoldMatches } from "../../src/run/discover-files.js";

describe("mayHoldMatches", () => {
  it("tells whether a folder could hold files a glob matches", () => {
    expect(mayHoldMatches("in/orders/*.csv", "in/orders")).toBe(true);
    expect(mayHoldMatches("in/orders/*.csv", "in")).toBe(true);
    expect(mayHoldMatches("in/orders/*.csv", "in/orders/sub")).toBe(false);
    expect(mayHoldMatches("in/orders/*.csv", "in/other")).toBe(false);
    expect(mayHoldMatches("in/orders/**/*.csv", "in/orders/2026/11")).toBe(true);
    expect(mayHoldMatches("in/*/x.csv", "in/a")).toBe(true);
    expect(mayHoldMatches("in/*/x.csv", "in/a/b")).toBe(false);
  });
});
