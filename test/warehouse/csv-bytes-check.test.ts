import { describe, expect, it } from "vitest";
import { CsvBytesCheck } from "../../src/warehouse/csv-bytes-check.js";

/** The check's verdict on `text` cut into chunks at `cuts` (byte offsets). */
function verdict(
  text: string,
  cuts: readonly number[] = [],
  timestamps = true,
  header = true,
): string | undefined {
  const bytes = Buffer.from(text);
  const check = new CsvBytesCheck(",", '"', timestamps, header);
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (!check.push(bytes.subarray(from, cut))) return check.reason;
    from = cut;
  }
  return check.end() ? undefined : check.reason;
}

/** The verdict is the same wherever the bytes are cut into two or three chunks. */
function everyCut(text: string): string | undefined {
  const whole = verdict(text);
  const n = Buffer.byteLength(text);
  for (let a = 0; a <= n; a++) {
    expect(verdict(text, [a]), `cut at ${a}`).toBe(whole);
    for (let b = a; b <= n; b += 3) expect(verdict(text, [a, b]), `cuts at ${a}, ${b}`).toBe(whole);
  }
  return whole;
}

describe("CsvBytesCheck", () => {
  it("passes quotes that open and close fields, doubled quotes inside them and line breaks", () => {
    expect(everyCut('id,v\n1,"a,b"\n2,"say ""hi"""\n3,"two\nlines"\n4,""\n"5",x\n')).toBeUndefined();
    expect(everyCut('id,v\r\n1,"a"\r\n2,b\r\n')).toBeUndefined();
    expect(everyCut("id,v\n1,no quotes at all\n2,2024-01-01 00:00:00.123456\n")).toBeUndefined();
  });

  it("stops at a byte-order mark only where no header line holds it", () => {
    const bom = "\uFEFFa1,1\nb2,2\n";
    expect(verdict(bom, [], true, false)).toMatch(/byte-order mark/);
    for (const cut of [1, 2, 3])
      expect(verdict(bom, [cut], true, false), `cut at ${cut}`).toMatch(/byte-order/);
    expect(verdict(bom, [1, 2], true, false)).toMatch(/byte-order mark/);
    expect(verdict(bom)).toBeUndefined();
    // A byte-order mark's first bytes are not one, nor is one further on.
    expect(verdict("\uFEFF", [1], true, false)).toMatch(/byte-order mark/);
    expect(verdict("a,\uFEFF\n", [], true, false)).toBeUndefined();
    expect(verdict("\u00EF\u00BB,x\n", [1], true, false)).toBeUndefined();
  });

  it("stops at a quote inside an unquoted value or text beside a quoted one", () => {
    expect(everyCut('id,v\n1,ab"c"d\n')).toMatch(/quote/);
    expect(everyCut('id,v\n1, "ab"\n')).toMatch(/quote/);
    expect(everyCut('id,v\n1,"ab" \n')).toMatch(/quote/);
    expect(everyCut('id,v\n1,"ab"c\n')).toMatch(/quote/);
    expect(everyCut('id,v\n1,"open\n')).toMatch(/not closed/);
  });

  it("stops at seconds with more than six decimals only where the file has timestamps", () => {
    expect(everyCut("id,at\n1,2024-01-01 00:00:00.1234567\n")).toMatch(/six decimals/);
    expect(everyCut("id,at\n1,2024-01-01T10:20:30.123456789Z\n")).toMatch(/six decimals/);
    expect(verdict("id,at\n1,2024-01-01 00:00:00.1234567\n", [], false)).toBeUndefined();
    expect(everyCut("id,x\n1,3.1234567\n")).toBeUndefined();
  });
});
