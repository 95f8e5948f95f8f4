import { randomUUID } from "node:crypto";
import { constants, createWriteStream, type Dirent, lstatSync, type Stats } from "node:fs";
import { copyFile, link, lstat, mkdir, open, readdir, rename, rm, stat, unlink } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { SluiceError } from "../errors.js";
import { escapeName } from "./escape-name.js";
import type { Storage, StorageEntry } from "./storage.js";

/** A file-system path: text, or the raw bytes of a name that is not valid UTF-8. */
type FsPath = string | Buffer;

/** Opening never follows a link in the last part of a path (where the platform allows it). */
const NO_FOLLOW = constants.O_NOFOLLOW ?? 0;

const LINK_REASON =
  "is a symbolic link; Sluice follows no links below the landing zone or lake root (one could lead outside it): replace it by the file or folder itself";

/**
 * Storage on a local folder. No path below the root may pass through a symbolic link: every operation
 * checks each part of its path with lstat and fails naming the link (the root itself may be a link).
 * Names that are not valid UTF-8 are listed in an escaped form (see `escapeName`) and stay usable under it.
 *
 * @example
 * const landing = localStorage("/srv/project/landing");
 * for await (const entry of landing.list("in/orders")) console.log(entry.path);
 */
export function localStorage(root: string): Storage {
  const base = resolve(root);
  /** Raw file-system paths of listed names that are not valid UTF-8, by their escaped relative path. */
  const rawPaths = new Map<string, Buffer>();

  /** `path` relative to the root, `/`-separated; a path leaving the root is refused. */
  const relOf = (path: string): string => {
    const full = resolve(base, path);
    if (full !== base && !full.startsWith(base + sep)) {
      throw new SluiceError("STORAGE_ERROR", `${path}: path escapes the storage root ${base}`);
    }
    return relative(base, full).split(sep).join("/");
  };
  const fsPathOf = (rel: string): FsPath => rawPaths.get(rel) ?? (rel === "" ? base : join(base, rel));
  const refuseLink = (part: string, path: string): SluiceError =>
    new SluiceError(
      "STORAGE_ERROR",
      `${part}: ${LINK_REASON}${relOf(path) === part ? "" : ` (on the way to ${path} in ${base})`}`,
    );

  /**
   * The file-system path of `path` once no part of it below the root is a symbolic link. With `create`,
   * the folders above it are made one at a time, each checked after it exists.
   */
  const safePath = async (path: string, create = false): Promise<FsPath> => {
    const rel = relOf(path);
    const parts = prefixes(rel);
    // Looked at all at once (a run checks several paths per file); a missing part is made, then checked.
    const infos = await Promise.all(parts.map((part) => lstat(fsPathOf(part)).catch(absent)));
    for (const [i, part] of parts.entries()) {
      let info = infos[i];
      if (!info && create && i < parts.length - 1) {
        await mkdir(fsPathOf(part)).catch(unlessExists);
        info = await lstat(fsPathOf(part));
      }
      if (!info) break;
      if (info.isSymbolicLink()) throw refuseLink(part, path);
    }
    return fsPathOf(rel);
  };
  const safePathSync = (path: string): FsPath => {
    const rel = relOf(path);
    for (const part of prefixes(rel)) {
      let info: Stats | undefined;
      try {
        info = lstatSync(fsPathOf(part), { throwIfNoEntry: false });
      } catch (error) {
        info = absent(error);
      }
      if (!info) break;
      if (info.isSymbolicLink()) throw refuseLink(part, path);
    }
    return fsPathOf(rel);
  };

  async function* walk(dir: FsPath, rel: string, includeRefused: boolean): AsyncGenerator<StorageEntry> {
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
      if (typeof child !== "string") rawPaths.set(childRel, child);
      if (entry.isDirectory()) {
        yield* walk(child, childRel, includeRefused);
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

  return {
    kind: "local",
    root: base,
    async *list(prefix, options = {}) {
      const rel = relOf(prefix.replace(/^\/+|\/+$/g, ""));
      // A link on the way to the prefix: nothing behind it is listed (it is reported when asked).
      for (const part of prefixes(rel)) {
        const info = await lstat(fsPathOf(part)).catch(absent);
        if (!info) return;
        if (info.isSymbolicLink()) {
          if (options.includeRefused) {
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
      yield* walk(fsPathOf(rel), rel, options.includeRefused === true);
    },
    async stat(path) {
      const info = await lstat(await safePath(path)).catch(absent);
      return info?.isFile() ? { path, size: info.size, mtimeMs: info.mtimeMs } : null;
    },
    async createReadStream(path) {
      const handle = await open(await safePath(path), constants.O_RDONLY | NO_FOLLOW);
      // 1 MiB chunks: hashing a big file in the default 64 KiB ones costs ~40% more.
      return handle.createReadStream({ highWaterMark: 1 << 20 });
    },
    async readFile(path) {
      const handle = await open(await safePath(path), constants.O_RDONLY | NO_FOLLOW);
      try {
        return await handle.readFile();
      } finally {
        await handle.close();
      }
    },
    async writeFile(path, data, options = {}) {
      const full = await safePath(path, true);
      const tmp = tempBeside(full);
      await writeAll(tmp, data);
      if (options.exclusive) {
        // Hard-link the finished temporary file into place: link() fails if the target exists, so
        // exactly one concurrent writer wins and readers never see a partial file.
        try {
          await link(tmp, full);
          return true;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
          throw error;
        } finally {
          await unlink(tmp).catch(() => undefined);
        }
      }
      // rename() replaces a link at the destination instead of writing through it.
      await rename(tmp, full);
      return true;
    },
    async putLocalFile(localPath, path) {
      const full = await safePath(path, true);
      if (resolve(localPath) === full) return;
      await copyIntoPlace(localPath, full);
    },
    async move(from, to) {
      const src = await safePath(from);
      const dst = await safePath(to, true);
      // link + unlink never overwrites an existing destination (rename would).
      try {
        await link(src, dst);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "EEXIST")
          throw new SluiceError("STORAGE_ERROR", `${to}: already exists; not overwriting`);
        if (code !== "EXDEV" && code !== "EPERM" && code !== "ENOTSUP") throw error;
        await copyFile(src, dst, constants.COPYFILE_EXCL);
      }
      await unlink(src);
    },
    async copy(from, to) {
      const src = await safePath(from);
      await copyIntoPlace(src, await safePath(to, true));
    },
    async delete(path) {
      await rm(await safePath(path), { force: true });
    },
    async checkPath(path) {
      await safePath(path);
    },
    localPath(path) {
      const full = safePathSync(path);
      return typeof full === "string" ? full : undefined;
    },
  };
}

/** "a/b/c" → ["a", "a/b", "a/b/c"]; "" → []. */
function prefixes(rel: string): string[] {
  if (rel === "") return [];
  const parts = rel.split("/");
  return parts.map((_, i) => parts.slice(0, i + 1).join("/"));
}

/** A fresh temporary name next to `full` (same folder, so a rename or link moves it into place). */
function tempBeside(full: FsPath): FsPath {
  const suffix = `.${process.pid}.${randomUUID()}.tmp`;
  return typeof full === "string" ? `${full}${suffix}` : Buffer.concat([full, Buffer.from(suffix)]);
}

/** Copies to a new temporary file, then renames it over `to` (never writing through a link there). */
async function copyIntoPlace(from: FsPath, to: FsPath): Promise<void> {
  const tmp = tempBeside(to);
  try {
    await copyFile(from, tmp, constants.COPYFILE_EXCL);
    await rename(tmp, to);
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
}

async function writeAll(file: FsPath, data: Buffer | string | Readable): Promise<void> {
  const source = typeof data === "string" || Buffer.isBuffer(data) ? Readable.from([data]) : data;
  try {
    await pipeline(source, createWriteStream(file, { flags: "wx" }));
  } catch (error) {
    // A write cut short (a full disk) leaves no temporary file behind.
    await unlink(file).catch(() => undefined);
    throw error;
  }
}

/** undefined for a path that does not exist (or runs through a file); other errors are thrown. */
function absent(error: unknown): undefined {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === "ENOENT" || code === "ENOTDIR") return undefined;
  throw error;
}

function unlessExists(error: unknown): void {
  if ((error as NodeJS.ErrnoException)?.code !== "EEXIST") throw error;
}
