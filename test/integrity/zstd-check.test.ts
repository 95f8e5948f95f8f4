import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { linesOf } from "../../src/integrity/line-count.js";
import { zstdCheck } from "../../src/integrity/zstd-check.js";
import { writeZstdText } from "../support/files.js";

const folder = mkdtempSync(join(tmpdir(), "sluice-zstd-"));

async function zstdBytes(name: string, text: string): Promise<Buffer> {
  const path = join(folder, name);
  await writeZstdText(path, text);
  return readFileSync(path);
}

/** Runs the check over `bytes` in chunks of `size`; returns its damage and line count. */
async function checkOf(bytes: Buffer, size = 7) {
  const check = zstdCheck();
  for (let at = 0; at < bytes.length; at += size) await check.write(bytes.subarray(at, at + size));
  const damage = await check.end();
  return { damage, lines: check.lines?.() };
}

describe("zstdCheck", () => {
  test("counts the decompressed content's lines, across chunks and concatenated frames", async () => {
    const text = `id,v\n${Array.from({ length: 5000 }, (_, i) => `${i},x${i}`).join("\r\n")}\n\n`;
    const one = await zstdBytes("one.csv.zst", text);
    const { damage, lines } = await checkOf(one, 4096);
    expect(damage).toBeUndefined();
    expect(lines).toBeDefined();
    expect(linesOf(lines!, "any")).toBe(text.split(/\r\n|\n/).length - 1);
    expect(lines!.blank).toBe(1);
    // Two frames one after the other are one stream, as DuckDB reads them.
    const two = Buffer.concat([one, await zstdBytes("two.csv.zst", "5000,y\n")]);
    expect(linesOf((await checkOf(two, 3))!.lines!, "any")).toBe(linesOf(lines!, "any") + 1);
  });

  test("a cut file is damage, with no line count; corrupt content does not throw", async () => {
    const bytes = await zstdBytes("cut.csv.zst", `${"a,b\n".repeat(20000)}`);
    const cut = await checkOf(bytes.subarray(0, bytes.length - 10));
    expect(cut.damage).toMatch(/truncated/);
    expect(cut.lines).toBeUndefined();
    const corrupt = Buffer.from(bytes);
    for (let i = 20; i < 60; i++) corrupt[i] = 0xff;
    // Damage inside blocks is DuckDB's read to report: the check only must not fail on it.
    await expect(checkOf(corrupt)).resolves.toBeDefined();
  });

  test("an empty file is neither damaged nor counted", async () => {
    expect(await checkOf(Buffer.alloc(0))).toEqual({ damage: undefined, lines: undefined });
  });
});
