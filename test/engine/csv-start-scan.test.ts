import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  lineAtLeast,
  SNIFF_LINE_LIMIT,
  SNIFF_SMALL_LIMIT,
  scanCsvStart,
} from "../../src/engine/csv-start-scan.js";

/** The longest line of `bytes` (the open last one included), line by line: the reference. */
function longestLine(bytes: Buffer): number {
  let longest = 0;
  let start = 0;
  for (let nl = bytes.indexOf(10); nl !== -1; nl = bytes.indexOf(10, start)) {
    longest = Math.max(longest, nl - start);
    start = nl + 1;
  }
  return Math.max(longest, bytes.length - start);
}

const dir = mkdtempSync(join(tmpdir(), "sluice-csv-start-"));
const file = (name: string, content: Buffer | string): string => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

describe("lineAtLeast", () => {
  it("agrees with a line-by-line scan for lines around the limit, anywhere in the bytes", () => {
    const limit = 64;
    for (const long of [0, 31, 32, 63, 64, 65, 130]) {
      for (const offset of [0, 1, 31, 32, 33, 64, 100]) {
        for (const open of [false, true]) {
          const bytes = Buffer.from(
            `${"a,b\n".repeat(offset)}${"x".repeat(long)}${open ? "" : `\n${"c,d\n".repeat(20)}`}`,
          );
          expect(lineAtLeast(bytes, limit), `long ${long} offset ${offset} open ${open}`).toBe(
            longestLine(bytes) >= limit,
          );
        }
      }
    }
  });
});

describe("scanCsvStart", () => {
  it("a small file with short lines gets the small sniff buffer and its first line", () => {
    const start = scanCsvStart(file("small.csv", "id,name\n1,a\n2,b\n"), 32 << 20);
    expect(start).toEqual({ overlongLine: undefined, sniffLimit: SNIFF_SMALL_LIMIT, firstLine: "id,name" });
  });

  it("names the line longer than the limit, wholly inside the scanned bytes or still open at their end", () => {
    expect(scanCsvStart(file("inside.csv", `a\nb\n${"x".repeat(50)}\nc\n`), 40).overlongLine).toBe(3);
    expect(scanCsvStart(file("fits.csv", `a\nb\n${"x".repeat(40)}\nc\n`), 40).overlongLine).toBeUndefined();
  });

  it("a line of 8 MiB or more in the first bytes asks for the big sniff buffer", () => {
    const big = file("wide.csv", `id,blob\n1,${"x".repeat(9 << 20)}\n2,y\n`);
    expect(scanCsvStart(big, 32 << 20)).toMatchObject({
      overlongLine: undefined,
      sniffLimit: SNIFF_LINE_LIMIT,
    });
  });

  it("compressed files keep the big buffer and are not scanned", () => {
    expect(scanCsvStart(file("a.csv.gz", "not really gzip"), 32 << 20).sniffLimit).toBe(SNIFF_LINE_LIMIT);
  });

  it("a file rewritten since (another size) is scanned again", () => {
    const path = file("again.csv", "a\n");
    expect(scanCsvStart(path, 32 << 20).firstLine).toBe("a");
    writeFileSync(path, "bb,cc\n1,2\n");
    expect(scanCsvStart(path, 32 << 20).firstLine).toBe("bb,cc");
  });
});
