import { copyFile, mkdir, symlink } from "node:fs/promises";
import { basename, join, resolve } from "node:path";

/** Characters DuckDB's readers (`read_csv`, `read_parquet`, `sniff_csv`) expand in a path as a glob. */
const GLOB_CHARACTERS = /[*?[]/;

/**
 * Whether DuckDB would read `path` as a glob pattern rather than as this one file: `in/b[1].csv`
 * matches `in/b1.csv`, `in/s*.csv` every file starting with `s`. (`{` and `}` are read literally.)
 *
 * @example
 * readsAsGlob("/landing/in/b[1].csv") // true
 */
export function readsAsGlob(path: string): boolean {
  return GLOB_CHARACTERS.test(path);
}

/**
 * A file name without glob characters (each becomes `_`), its extensions kept: DuckDB detects
 * compression (`.gz`, `.zst`) from them.
 */
function literalFileName(name: string): string {
  return name.replace(/[*?[\]]/g, "_");
}

/**
 * The path to hand DuckDB for a local file so that it reads exactly that file: the path itself, or —
 * when it holds glob characters — a symbolic link to it with a literal name in `folder` (a copy where
 * links cannot be made). The caller keeps the real path for everything else (ledger, lineage,
 * archive, messages); `folder` is a fresh folder of the run's temporary folder.
 *
 * @example
 * await duckdbReadPath(landing.localPath("in/b[1].csv")!, join(workDir, "f0")) // join(workDir, "f0", "b_1_.csv")
 */
export async function duckdbReadPath(path: string, folder: string): Promise<string> {
  if (!readsAsGlob(path)) return path;
  await mkdir(folder, { recursive: true });
  const link = join(folder, literalFileName(basename(path)));
  try {
    await symlink(resolve(path), link);
  } catch {
    await copyFile(path, link);
  }
  return link;
}
