import { lstatSync, type Stats } from "node:fs";
import { lstat, mkdir } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import { SluiceError } from "../errors.js";

/** A file-system path: text, or the raw bytes of a name that is not valid UTF-8. */
export type FsPath = string | Buffer;

export const LINK_REASON =
  "is a symbolic link; Sluice follows no links below the landing zone or lake root (one could lead outside it): replace it by the file or folder itself";

/** A local storage's paths: relative to its root, checked for symbolic links, raw where not UTF-8. */
export interface LocalPaths {
  /** The root, absolute. */
  readonly base: string;
  /** Raw file-system paths of listed names that are not valid UTF-8, by their escaped relative path. */
  readonly rawPaths: Map<string, Buffer>;
  /** `path` relative to the root, `/`-separated; a path leaving the root is refused. */
  relOf(path: string): string;
  fsPathOf(rel: string): FsPath;
  /**
   * The file-system path of `path` once no part of it below the root is a symbolic link. With `create`,
   * the folders above it are made one at a time, each checked after it exists.
   */
  safePath(path: string, create?: boolean): Promise<FsPath>;
  /** {@link safePath}, with what lstat said of the path itself (undefined: it does not exist). */
  checkedPath(path: string, create?: boolean): Promise<{ fsPath: FsPath; info: Stats | undefined }>;
  safePathSync(path: string): FsPath;
  /**
   * Opens a batch: until the returned function is called, a folder found to be no link is not looked
   * at again (a path's last part always is). See `Storage.batch`.
   */
  batch(): () => void;
}

/**
 * The paths of a local storage rooted at `root`.
 *
 * @example
 * const paths = localPaths("/srv/project/landing");
 * await paths.safePath("in/a.csv"); // "/srv/project/landing/in/a.csv", or STORAGE_ERROR naming a link on the way
 */
export function localPaths(root: string): LocalPaths {
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
  // Folders found to be no link while a batch is open: 10,000 files of one folder are 10,000 paths
  // through it, and each was several lstat calls of the same folders.
  let batches = 0;
  const folders = new Set<string>();
  const batch = (): (() => void) => {
    batches++;
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      if (--batches === 0) folders.clear();
    };
  };
  /** Remembers a folder of a path (not its last part) found to be no link, while a batch is open. */
  const noLink = (part: string, info: Stats, last: boolean): void => {
    if (batches > 0 && !last && info.isDirectory()) folders.add(part);
  };
  const checkedPath = async (
    path: string,
    create = false,
  ): Promise<{ fsPath: FsPath; info: Stats | undefined }> => {
    const rel = relOf(path);
    const parts = prefixes(rel);
    // Looked at all at once (a run checks several paths per file); a missing part is made, then checked.
    const infos = await Promise.all(
      parts.map((part, i) =>
        i < parts.length - 1 && folders.has(part) ? FOLDER : lstat(fsPathOf(part)).catch(absent),
      ),
    );
    let last: Stats | undefined;
    for (const [i, part] of parts.entries()) {
      let info = infos[i];
      if (info === FOLDER) continue;
      if (!info && create && i < parts.length - 1) {
        await mkdir(fsPathOf(part)).catch(unlessExists);
        info = await lstat(fsPathOf(part));
      }
      if (!info) break;
      if (info.isSymbolicLink()) throw refuseLink(part, path);
      noLink(part, info, i === parts.length - 1);
      if (i === parts.length - 1) last = info;
    }
    return { fsPath: fsPathOf(rel), info: last };
  };
  const safePath = async (path: string, create = false): Promise<FsPath> =>
    (await checkedPath(path, create)).fsPath;
  const safePathSync = (path: string): FsPath => {
    const rel = relOf(path);
    const parts = prefixes(rel);
    for (const [i, part] of parts.entries()) {
      if (i < parts.length - 1 && folders.has(part)) continue;
      let info: Stats | undefined;
      try {
        info = lstatSync(fsPathOf(part), { throwIfNoEntry: false });
      } catch (error) {
        info = absent(error);
      }
      if (!info) break;
      if (info.isSymbolicLink()) throw refuseLink(part, path);
      noLink(part, info, i === parts.length - 1);
    }
    return fsPathOf(rel);
  };
  return { base, rawPaths, relOf, fsPathOf, safePath, checkedPath, safePathSync, batch };
}

/** A folder already found to be no link in the open batch: not looked at again. */
const FOLDER = Symbol("folder");

/** "a/b/c" → ["a", "a/b", "a/b/c"]; "" → []. */
export function prefixes(rel: string): string[] {
  if (rel === "") return [];
  const parts = rel.split("/");
  return parts.map((_, i) => parts.slice(0, i + 1).join("/"));
}

/** undefined for a path that does not exist (or runs through a file); other errors are thrown. */
export function absent(error: unknown): undefined {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === "ENOENT" || code === "ENOTDIR") return undefined;
  throw error;
}

export function unlessExists(error: unknown): void {
  if ((error as NodeJS.ErrnoException)?.code !== "EEXIST") throw error;
}
