import { describe, expect, it } from "vitest";
import { escapeName } from "../../src/storage/escape-name.js";

describe("escapeName", () => {
  it("keeps valid UTF-8 as it is, U+FFFD included", () => {
    for (const text of ["orders.csv", "café ü.csv", "😀.csv", "a\uFFFDb.csv", "a\\xFF.csv"]) {
      expect(escapeName(Buffer.from(text))).toEqual({ text, escaped: false });
    }
  });

  it("writes each byte outside a valid sequence as \\xHH and keeps the valid ones", () => {
    const bytes = (...parts: (string | number[])[]) =>
      Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p))));
    expect(escapeName(bytes("caf", [0xe9], ".csv")).text).toBe("caf\\xE9.csv");
    expect(escapeName(bytes([0xff, 0xfe], "é")).text).toBe("\\xFF\\xFEé");
    // Overlong, surrogate, beyond U+10FFFF and truncated sequences.
    expect(escapeName(bytes([0xc0, 0xaf])).text).toBe("\\xC0\\xAF");
    expect(escapeName(bytes([0xed, 0xa0, 0x80])).text).toBe("\\xED\\xA0\\x80");
    expect(escapeName(bytes([0xf4, 0x90, 0x80, 0x80])).text).toBe("\\xF4\\x90\\x80\\x80");
    expect(escapeName(bytes("a", [0xe2, 0x82])).text).toBe("a\\xE2\\x82");
    expect(escapeName(bytes([0xe2, 0x82, 0xac, 0x80])).text).toBe("€\\x80");
    expect(escapeName(bytes([0xff])).escaped).toBe(true);
  });
});
