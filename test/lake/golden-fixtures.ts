import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { decompress } from "fzstd";
import { x as untar } from "tar";

/** Folder of the shared Delta golden tables, or undefined when the fixtures are absent. */
export function goldenFixtureDir(): string | undefined {
  const dir = resolve(process.cwd(), "../shared/fixtures/delta-golden");
  return existsSync(dir) ? dir : undefined;
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
