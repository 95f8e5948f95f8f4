import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { decompress } from "fzstd";
import { x as untar } from "tar";

const PROJECT_ROOT = resolve(import.meta.dirname, "..", "..");

/** Where the Delta golden tables are, and whether their tests skip. */
export interface GoldenFixtures {
  /** True when the tables are absent outside CI (a line says why); under CI=true absent tests run and fail. */
  readonly skip: boolean;
  /** The folder of `<name>.tar.zst` files; throws, saying where it looked, when it is absent. */
  dir(): string;
}

/**
 * The Delta golden tables: `$SLUICE_DELTA_GOLDEN` (absolute, or relative to the project), else
 * `test/fixtures/delta-golden` in the project (not committed: the tables are large and published
 * elsewhere, see docs/internals.md).
 */
export function goldenFixtures(env: NodeJS.ProcessEnv = process.env): GoldenFixtures {
  const dir = resolve(PROJECT_ROOT, env.SLUICE_DELTA_GOLDEN || join("test", "fixtures", "delta-golden"));
  const present = existsSync(dir);
  const why = `the Delta golden tables are not at ${dir} (set SLUICE_DELTA_GOLDEN to their folder)`;
  const skip = !present && env.CI !== "true";
  if (skip) console.warn(`[skipped] ${why}; their tests are skipped. With CI=true this fails.`);
  return {
    skip,
    dir() {
      if (!present) throw new Error(env.CI === "true" ? `${why}; they are required when CI=true` : why);
      return dir;
    },
  };
}

/** Unpacks every `<name>.tar.zst` into `into/` (pure JS: fzstd + tar); returns the table names. */
export async function unpackGoldenTables(fixtures: string, into: string): Promise<string[]> {
  const names: string[] = [];
  for (const file of (await readdir(fixtures)).sort()) {
    if (!file.endsWith(".tar.zst")) continue;
    const name = file.slice(0, -".tar.zst".length);
    const tarFile = join(into, `${name}.tar`);
    await writeFile(tarFile, decompress(new Uint8Array(await readFile(join(fixtures, file)))));
    await mkdir(join(into), { recursive: true });
    await untar({ file: tarFile, cwd: into, strict: false, onwarn: () => undefined });
    names.push(name);
  }
  return names;
}
