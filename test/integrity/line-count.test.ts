import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { compressionCheckFor } from "../../src/integrity/compression-check-for.js";
import { hashStream } from "../../src/integrity/hash-file.js";
import { hashInBackground } from "../../src/integrity/hash-in-background.js";
import { lineCounter } from "../../src/integrity/line-count.js";

// A file's lines are counted as it is hashed, independently of DuckDB's reader: the read is checked
// against that count. The counter must agree with a plain split whatever the chunking.

/** The reference: split at \r\n, \n or \r. */
function reference(text: string) {
  const pieces = text.split(/\r\n|\n|\r/);
  const open = text.length > 0 && !/[\r\n]$/.test(text) ? 1 : 0;
  if (!open) pieces.pop();
  return {
    lf: (text.match(/\n/g) ?? []).length,
    cr: (text.match(/\r(?!\n)/g) ?? []).length,
    open,
    blank: pieces.filter((p) => p === "").length,
  };
}

function counted(text: string, chunk: number) {
  const counter = lineCounter();
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; at += chunk) counter.write(bytes.subarray(at, at + chunk));
  return counter.end();
}

const dir = mkdtempSync(join(tmpdir(), "sluice-lines-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("lineCounter", () => {
  const samples = [
    "",
    "a",
    "a\n",
    "a\r\nb\r\n",
    "a\rb\rc",
    "\n\n",
    "\r\n\r\n\r\n",
    "a\r\nb\nc\rd\n\ne\r\n",
    "\r\r\n\n\r",
    'x,"q\nq"\r\n\r\ny\r',
  ];
  it.each(samples)("counts %j like a split, in chunks of any size", (text) => {
    for (const chunk of [1, 2, 3, 7, 1024]) expect(counted(text, chunk)).toEqual(reference(text));
  });

  it("the hashing worker and a compressed file's check count the same lines", async () => {
    const text = Array.from({ length: 5000 }, (_, i) => ["a,b", "", "c\rd", "e"][i % 4]).join(
      ["\n", "\r\n", "\r"][1],
    );
    const path = join(dir, "lines.csv");
    writeFileSync(path, text);
    const hashing = await hashInBackground(path);
    const inWorker = await hashing.digest;
    await hashing.release();
    expect(inWorker.lines).toEqual(reference(text));
    const gz = gzipSync(text);
    const check = compressionCheckFor("a.csv.gz", "csv");
    const inflated = await hashStream(Readable.from([gz]), check);
    expect(inflated.lines).toEqual(reference(text));
  });
});
