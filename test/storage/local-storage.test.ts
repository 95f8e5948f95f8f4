import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SluiceError } from "../../src/errors.js";
import { localStorage } from "../../src/storage/local-storage.js";
import type { Storage, StorageEntry } from "../../src/storage/storage.js";

function folder(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

async function listed(storage: Storage, prefix: string, includeRefused = false): Promise<StorageEntry[]> {
  const out: StorageEntry[] = [];
  for await (const entry of storage.list(prefix, { includeRefused })) out.push(entry);
  return out;
}

async function refusal(action: () => Promise<unknown>): Promise<string> {
  const error = await action().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SluiceError);
  expect((error as SluiceError).code).toBe("STORAGE_ERROR");
  return (error as SluiceError).message;
}

describe("local storage and symbolic links", () => {
  it("refuses every operation on a path through a linked folder, and touches nothing behind it", async () => {
    const root = folder("sluice-ls-root-");
    const elsewhere = folder("sluice-ls-out-");
    writeFileSync(join(elsewhere, "secret.csv"), "secret");
    mkdirSync(join(root, "archive"));
    symlinkSync(elsewhere, join(root, "archive/p"));
    writeFileSync(join(root, "a.csv"), "A");
    const storage = localStorage(root);
    const through = "archive/p/secret.csv";
    const actions: Record<string, () => Promise<unknown>> = {
      stat: () => storage.stat(through),
      readFile: () => storage.readFile(through),
      createReadStream: () => storage.createReadStream(through),
      writeFile: () => storage.writeFile("archive/p/2026/12/new.csv", "x"),
      exclusiveWrite: () => storage.writeFile("archive/p/new.json", "x", { exclusive: true }),
      putLocalFile: () => storage.putLocalFile(join(root, "a.csv"), "archive/p/put.csv"),
      moveTo: () => storage.move("a.csv", "archive/p/2026/12/a_1.csv"),
      moveFrom: () => storage.move(through, "b.csv"),
      copyTo: () => storage.copy("a.csv", "archive/p/copy.csv"),
      copyFrom: () => storage.copy(through, "c.csv"),
      delete: () => storage.delete(through),
      checkPath: () => storage.checkPath("archive/p/x.csv"),
      localPath: async () => storage.localPath(through),
    };
    for (const [name, action] of Object.entries(actions)) {
      expect(await refusal(action), name).toMatch(/^archive\/p: is a symbolic link/);
    }
    expect(readdirSync(elsewhere)).toEqual(["secret.csv"]);
    expect(readFileSync(join(elsewhere, "secret.csv"), "utf8")).toBe("secret");
    expect(readFileSync(join(root, "a.csv"), "utf8")).toBe("A");
    expect(existsSync(join(root, "b.csv"))).toBe(false);
  });

  it("refuses a link in the last part of a path: never writes through it nor takes it for a moved file", async () => {
    const root = folder("sluice-ls-root-");
    const elsewhere = folder("sluice-ls-out-");
    writeFileSync(join(elsewhere, "target.csv"), "T");
    mkdirSync(join(root, "archive"));
    symlinkSync(join(elsewhere, "target.csv"), join(root, "archive/a_1.csv"));
    const storage = localStorage(root);
    await storage.writeFile("in/a.csv", "T");
    expect(await refusal(() => storage.stat("archive/a_1.csv"))).toMatch(
      /archive\/a_1\.csv: is a symbolic link/,
    );
    await refusal(() => storage.writeFile("archive/a_1.csv", "new"));
    await refusal(() => storage.copy("in/a.csv", "archive/a_1.csv"));
    await refusal(() => storage.move("in/a.csv", "archive/a_1.csv"));
    expect(readFileSync(join(elsewhere, "target.csv"), "utf8")).toBe("T");
    expect(readFileSync(join(root, "in/a.csv"), "utf8")).toBe("T");
  });

  it("in a batch (folders looked at once), still refuses a linked folder, a link in the last part, and a folder linked after it", async () => {
    const root = folder("sluice-ls-root-");
    const elsewhere = folder("sluice-ls-out-");
    writeFileSync(join(elsewhere, "secret.csv"), "secret");
    mkdirSync(join(root, "in"));
    mkdirSync(join(root, "archive"));
    symlinkSync(elsewhere, join(root, "archive/p"));
    writeFileSync(join(root, "in/a.csv"), "A");
    writeFileSync(join(root, "in/b.csv"), "B");
    const storage = localStorage(root);
    const done = storage.batch!();
    expect(await storage.stat("in/a.csv")).toMatchObject({ path: "in/a.csv", size: 1 });
    expect(storage.localPath("in/b.csv")).toBe(join(root, "in/b.csv"));
    // Every path through the linked folder, each time.
    for (let i = 0; i < 2; i++) {
      expect(await refusal(() => storage.stat("archive/p/secret.csv"))).toMatch(
        /^archive\/p: is a symbolic link/,
      );
      await refusal(() => storage.move("in/a.csv", "archive/p/a.csv"));
      expect(() => storage.localPath("archive/p/secret.csv")).toThrow(/^archive\/p: is a symbolic link/);
    }
    // A file of a folder looked at already, replaced by a link meanwhile: its last part is looked at again.
    unlinkSync(join(root, "in/b.csv"));
    symlinkSync(join(elsewhere, "secret.csv"), join(root, "in/b.csv"));
    expect(await refusal(() => storage.stat("in/b.csv"))).toMatch(/^in\/b\.csv: is a symbolic link/);
    await refusal(() => storage.readFile("in/b.csv"));
    expect(() => storage.localPath("in/b.csv")).toThrow(/is a symbolic link/);
    await storage.move("in/a.csv", "archive/2026/a.csv");
    expect(readFileSync(join(root, "archive/2026/a.csv"), "utf8")).toBe("A");
    done();
    // Once the batch is closed, a folder made a link is seen at once.
    renameSync(join(root, "archive/2026"), join(root, "archive/real"));
    symlinkSync(join(root, "archive/real"), join(root, "archive/2026"));
    expect(await refusal(() => storage.stat("archive/2026/a.csv"))).toMatch(
      /^archive\/2026: is a symbolic link/,
    );
    expect(readdirSync(elsewhere)).toEqual(["secret.csv"]);
  });

  it("allows the root itself to be a link", async () => {
    const real = folder("sluice-ls-real-");
    const holder = folder("sluice-ls-holder-");
    symlinkSync(real, join(holder, "landing"));
    const storage = localStorage(join(holder, "landing"));
    await storage.writeFile("in/a.csv", "A");
    await storage.move("in/a.csv", "archive/a.csv");
    expect(readFileSync(join(real, "archive/a.csv"), "utf8")).toBe("A");
  });

  it("lists links only when asked, as refused entries that say whether they lead to a folder", async () => {
    const root = folder("sluice-ls-root-");
    const elsewhere = folder("sluice-ls-out-");
    writeFileSync(join(elsewhere, "f.csv"), "F");
    mkdirSync(join(root, "in"));
    writeFileSync(join(root, "in/real.csv"), "R");
    symlinkSync(join(elsewhere, "f.csv"), join(root, "in/file-link.csv"));
    symlinkSync(elsewhere, join(root, "in/folder-link"));
    const storage = localStorage(root);
    expect((await listed(storage, "in")).map((e) => e.path)).toEqual(["in/real.csv"]);
    const all = await listed(storage, "in", true);
    expect(all.map((e) => [e.path, e.refused?.folder])).toEqual([
      ["in/file-link.csv", false],
      ["in/folder-link", true],
      ["in/real.csv", undefined],
    ]);
    expect(all[0]!.refused!.reason).toMatch(/^is a symbolic link/);
    // A linked prefix: nothing behind it is listed; asked, the link itself is.
    symlinkSync(elsewhere, join(root, "drop"));
    expect(await listed(storage, "drop/sub")).toEqual([]);
    expect((await listed(storage, "drop/sub", true)).map((e) => [e.path, e.refused?.folder])).toEqual([
      ["drop", true],
    ]);
  });
});

describe("local storage and names that are not valid UTF-8", () => {
  it("lists them escaped and reads, moves and deletes them under that name", async () => {
    const root = folder("sluice-ls-root-");
    mkdirSync(join(root, "in"));
    const raw = (name: Buffer) => Buffer.concat([Buffer.from(`${root}/in/`), name]);
    writeFileSync(raw(Buffer.from([0x61, 0xff, 0x2e, 0x63, 0x73, 0x76])), "bad name");
    mkdirSync(raw(Buffer.from([0xc3, 0x28])));
    writeFileSync(Buffer.concat([raw(Buffer.from([0xc3, 0x28])), Buffer.from("/inner.csv")]), "inner");
    const storage = localStorage(root);
    const entries = await listed(storage, "in");
    expect(entries.map((e) => e.path)).toEqual(["in/a\\xFF.csv", "in/\\xC3(/inner.csv"].sort());
    expect(storage.localPath("in/a\\xFF.csv")).toBeUndefined();
    expect((await storage.stat("in/a\\xFF.csv"))?.size).toBe(8);
    expect((await storage.readFile("in/a\\xFF.csv")).toString()).toBe("bad name");
    expect((await storage.readFile("in/\\xC3(/inner.csv")).toString()).toBe("inner");
    await storage.move("in/a\\xFF.csv", "archive/a\\xFF_1.csv");
    expect(readFileSync(join(root, "archive/a\\xFF_1.csv"), "utf8")).toBe("bad name");
    await storage.delete("in/\\xC3(/inner.csv");
    expect(await listed(storage, "in")).toEqual([]);
  });

  it("refuses a name whose escaped form is another file's name", async () => {
    const root = folder("sluice-ls-root-");
    mkdirSync(join(root, "in"));
    writeFileSync(Buffer.concat([Buffer.from(`${root}/in/a`), Buffer.from([0xff])]), "raw");
    writeFileSync(join(root, "in/a\\xFF"), "literal");
    const storage = localStorage(root);
    const all = await listed(storage, "in", true);
    // Listed twice under one name: the literal one is read, the other refused (in whatever order).
    expect(all.map((e) => [e.path, e.refused !== undefined]).sort()).toEqual([
      ["in/a\\xFF", false],
      ["in/a\\xFF", true],
    ]);
    expect((await storage.readFile("in/a\\xFF")).toString()).toBe("literal");
  });
});
