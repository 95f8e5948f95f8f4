import { randomUUID } from "node:crypto";
import { constants, createWriteStream, fstatSync } from "node:fs";
import { copyFile, link, open, rename, rm, unlink } from "node:fs/promises";
import { resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { SluiceError } from "../errors.js";
import { listLocalFolder } from "./list-local-folder.js";
import { type FsPath, localPaths } from "./local-paths.js";
import type { Storage } from "./storage.js";

/** Opening never follows a link in the last part of a path (where the platform allows it). */
const NO_FOLLOW = constants.O_NOFOLLOW ?? 0;

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
  const paths = localPaths(root);
  const { base, safePath, checkedPath, safePathSync } = paths;
  return {
    kind: "local",
    root: base,
    list: (prefix, options = {}) => listLocalFolder(paths, prefix, options.includeRefused === true),
    async stat(path) {
      // The check's own lstat of the path is its stat: a link there was refused by it.
      const { info } = await checkedPath(path);
      return info?.isFile() ? { path, size: info.size, mtimeMs: info.mtimeMs } : null;
    },
    async createReadStream(path) {
      const handle = await open(await safePath(path), constants.O_RDONLY | NO_FOLLOW);
      // 1 MiB chunks: hashing a big file in the default 64 KiB ones costs ~40% more. A small file gets
      // a buffer of its size: a fresh 1 MiB buffer per read of each of 10,000 small files kept the
      // garbage collector busy for about half of the run's CPU time.
      const size = fstatSync(handle.fd).size;
      return handle.createReadStream({ highWaterMark: Math.min(1 << 20, Math.max(64, size + 1)) });
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
    batch: () => paths.batch(),
  };
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
