import { randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { copyFile, link, mkdir, open, readdir, readFile, rename, rm, stat, unlink } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { SluiceError } from "../errors.js";
import type { Storage, StorageEntry } from "./storage.js";

/**
 * Storage on a local folder.
 *
 * @example
 * const landing = localStorage("/srv/project/landing");
 * for await (const entry of landing.list("in/orders")) console.log(entry.path);
 */
export function localStorage(root: string): Storage {
  const base = resolve(root);
  const abs = (path: string): string => {
    const full = resolve(base, path);
    if (full !== base && !full.startsWith(base + sep)) {
      throw new SluiceError("STORAGE_ERROR", `${path}: path escapes the storage root ${base}`);
    }
    return full;
  };

  async function* walk(dir: string, rel: string): AsyncGenerator<StorageEntry> {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (isNotFound(error) || (error as NodeJS.ErrnoException).code === "ENOTDIR") return;
      throw error;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const childRel = rel === "" ? entry.name : `${rel}/${entry.name}`;
      const child = join(dir, entry.name);
      if (entry.isDirectory()) {
        yield* walk(child, childRel);
      } else if (entry.isFile()) {
        const info = await stat(child).catch(() => null);
        if (info) yield { path: childRel, size: info.size, mtimeMs: info.mtimeMs };
      }
    }
  }

  return {
    kind: "local",
    root: base,
    list(prefix) {
      const clean = prefix.replace(/^\/+|\/+$/g, "");
      return walk(abs(clean), clean);
    },
    async stat(path) {
      const info = await stat(abs(path)).catch((error) => {
        if (isNotFound(error)) return null;
        throw error;
      });
      return info?.isFile() ? { path, size: info.size, mtimeMs: info.mtimeMs } : null;
    },
    async createReadStream(path) {
      const handle = await open(abs(path), "r");
      // 1 MiB chunks: hashing a big file in the default 64 KiB ones costs ~40% more.
      return handle.createReadStream({ highWaterMark: 1 << 20 });
    },
    readFile: (path) => readFile(abs(path)),
    async writeFile(path, data, options = {}) {
      const full = abs(path);
      await mkdir(dirname(full), { recursive: true });
      if (options.exclusive) {
        // Write to a temporary name, then hard-link into place: link() fails if the target exists,
        // so exactly one concurrent writer wins and readers never see a partial file.
        const tmp = `${full}.${process.pid}.${randomUUID()}.tmp`;
        await writeAll(tmp, data);
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
      const tmp = `${full}.${process.pid}.${randomUUID()}.tmp`;
      await writeAll(tmp, data);
      await rename(tmp, full);
      return true;
    },
    async putLocalFile(localPath, path) {
      const full = abs(path);
      await mkdir(dirname(full), { recursive: true });
      if (resolve(localPath) === full) return;
      // Copied under a temporary name, then renamed: a copy cut short (a full disk) never stands as the file.
      const tmp = `${full}.${process.pid}.${randomUUID()}.tmp`;
      try {
        await copyFile(localPath, tmp);
        await rename(tmp, full);
      } catch (error) {
        await unlink(tmp).catch(() => undefined);
        throw error;
      }
    },
    async move(from, to) {
      const src = abs(from);
      const dst = abs(to);
      await mkdir(dirname(dst), { recursive: true });
      // link + unlink never overwrites an existing destination (rename would).
      try {
        await link(src, dst);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "EEXIST")
          throw new SluiceError("STORAGE_ERROR", `${to}: already exists; not overwriting`);
        if (code !== "EXDEV" && code !== "EPERM" && code !== "ENOTSUP") throw error;
        await copyFile(src, dst, 1 /* COPYFILE_EXCL */);
      }
      await unlink(src);
    },
    async copy(from, to) {
      const dst = abs(to);
      await mkdir(dirname(dst), { recursive: true });
      await copyFile(abs(from), dst);
    },
    async delete(path) {
      await rm(abs(path), { force: true });
    },
    localPath: (path) => abs(path),
  };
}

/** Writes a temporary file; a write that fails (a full disk) leaves no partial file behind. */
async function writeAll(file: string, data: Buffer | string | Readable): Promise<void> {
  const source = typeof data === "string" || Buffer.isBuffer(data) ? Readable.from([data]) : data;
  try {
    await pipeline(source, createWriteStream(file));
  } catch (error) {
    await unlink(file).catch(() => undefined);
    throw error;
  }
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === "ENOENT";
}
