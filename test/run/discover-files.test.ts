import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { discoverFiles, discoverNamedFiles, mayHoldMatches } from "../../src/run/discover-files.js";
import { localStorage } from "../../src/storage/local-storage.js";
import type { Storage } from "../../src/storage/storage.js";

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

describe("discoverNamedFiles (a run of named files: sluice run --file, a queued unit)", () => {
  const make = () => {
    const root = mkdtempSync(join(tmpdir(), "sluice-named-"));
    mkdirSync(join(root, "in"), { recursive: true });
    mkdirSync(join(root, "archive/p"), { recursive: true });
    for (const [name, age] of [
      ["in/a.csv", 30],
      ["in/b.csv", 20],
      ["in/c.csv", 10],
      ["in/.hidden.csv", 5],
      ["in/x.txt", 5],
      ["archive/p/old.csv", 5],
    ] as const) {
      writeFileSync(join(root, name), "id\n1\n");
      const at = new Date(Date.now() - age * 1000);
      utimesSync(join(root, name), at, at);
    }
    writeFileSync(join(root, "elsewhere.csv"), "id\n1\n");
    symlinkSync(join(root, "elsewhere.csv"), join(root, "in/link.csv"));
    return root;
  };
  /** The landing storage, counting how often it was listed. */
  const counted = (root: string) => {
    const inner = localStorage(root);
    const seen = { lists: 0 };
    const storage: Storage = {
      ...inner,
      list: (prefix, options) => {
        seen.lists++;
        return inner.list(prefix, options);
      },
    };
    return { storage, seen };
  };

  it("finds what the full listing finds for those names, oldest first", async () => {
    const root = make();
    try {
      const { storage } = counted(root);
      const all = await discoverFiles(storage, "in/*.csv");
      for (const names of [
        ["in/c.csv", "in/a.csv"],
        ["in/b.csv", "in/missing.csv"],
        ["in/link.csv", "in/a.csv"],
        ["in/.hidden.csv", "in/x.txt", "archive/p/old.csv", "in/b.csv"],
        [],
      ]) {
        const named = await discoverNamedFiles(storage, "in/*.csv", names);
        expect(named, names.join(",")).toEqual(all.filter((e) => names.includes(e.path)));
      }
      // A named link is still reported as refused (it is not silently dropped).
      expect((await discoverNamedFiles(storage, "in/*.csv", ["in/link.csv"]))[0]?.refused).toBeDefined();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("looks plain files up by name instead of listing the whole landing zone", async () => {
    const root = make();
    try {
      const { storage, seen } = counted(root);
      const named = await discoverNamedFiles(storage, "in/*.csv", ["in/c.csv", "in/a.csv", "in/b.csv"]);
      expect(named.map((e) => e.path)).toEqual(["in/a.csv", "in/b.csv", "in/c.csv"]);
      expect(seen.lists).toBe(0);
      // A name that is not a plain file there takes the listing (which says what it will not read).
      await discoverNamedFiles(storage, "in/*.csv", ["in/a.csv", "in/link.csv"]);
      expect(seen.lists).toBe(1);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
