import type { Dirent } from "node:fs";
import { lstat, readdir, stat } from "node:fs/promises";
import { join, sep } from "node:path";
import { escapeName } from "./escape-name.js";
import { absent, type FsPath, LINK_REASON, type LocalPaths, prefixes } from "./local-paths.js";
import type { StorageEntry } from "./storage.js";

/**
 * Every file below `prefix` of a local storage, sorted by name, never through a symbolic link. With
 * `includeRefused`, also the links and the names it will not read, each with why.
 *
 * @example
 * for await (const entry of listLocalFolder(localPaths("landing"), "in/orders", false)) console.log(entry.path);
 */
export async function* listLocalFolder(
  paths: LocalPaths,
  prefix: string,
  includeRefused: boolean,
): AsyncGenerator<StorageEntry> {
  const rel = paths.relOf(prefix.replace(/^\/+|\/+$/g, ""));
  // A link on the way to the prefix: nothing behind it is listed (it is reported when asked).
  for (const part of prefixes(rel)) {
    const info = await lstat(paths.fsPathOf(part)).catch(absent);
    if (!info) return;
    if (info.isSymbolicLink()) {
      if (includeRefused) {
        yield {
          path: part,
          size: 0,
          mtimeMs: info.mtimeMs,
          refused: { reason: LINK_REASON, folder: true },
        };
      }
      return;
    }
  }
  yield* walk(paths, paths.fsPathOf(rel), rel, includeRefused);
}

async function* walk(
  paths: LocalPaths,
  dir: FsPath,
  rel: string,
  includeRefused: boolean,
): AsyncGenerator<StorageEntry> {
  let entries: Dirent<Buffer>[];
  try {
    entries = await readdir(dir, { withFileTypes: true, encoding: "buffer" });
  } catch (error) {
    return absent(error); // a missing folder lists nothing
  }
  const named = entries.map((entry) => ({ entry, ...escapeName(entry.name) }));
  const plainNames = new Set(named.filter((n) => !n.escaped).map((n) => n.text));
  named.sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
  for (const { entry, text, escaped } of named) {
    const childRel = rel === "" ? text : `${rel}/${text}`;
    if (escaped && plainNames.has(text)) {
      if (includeRefused) {
        const reason = `its name is not valid UTF-8, and its escaped form is the name of another file there: rename it`;
        yield { path: childRel, size: 0, mtimeMs: 0, refused: { reason, folder: entry.isDirectory() } };
      }
      continue;
    }
    const child =
      typeof dir === "string" && !escaped
        ? join(dir, text)
        : Buffer.concat([Buffer.from(dir), Buffer.from(sep), entry.name]);
    if (typeof child !== "string") paths.rawPaths.set(childRel, child);
    if (entry.isDirectory()) {
      yield* walk(paths, child, childRel, includeRefused);
      continue;
    }
    const info = await lstat(child).catch(absent);
    if (info?.isFile()) {
      yield { path: childRel, size: info.size, mtimeMs: info.mtimeMs };
    } else if (info?.isSymbolicLink() && includeRefused) {
      // Followed only to tell a linked folder from a linked file; nothing behind it is read.
      const folder = await stat(child).then(
        (target) => target.isDirectory(),
        () => false,
      );
      yield { path: childRel, size: 0, mtimeMs: info.mtimeMs, refused: { reason: LINK_REASON, folder } };
    }
  }
}
