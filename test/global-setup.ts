import { execFileSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/**
 * End-to-end tests drive the built CLI (the `sluice` binary, dist/sluice.js): build before the suite
 * (tsc, then the bundle) so dist/ matches src/ — unless it already does.
 */
export default function setup(): void {
  if (builtAfterSources()) return;
  execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { stdio: "inherit" });
  execFileSync(process.execPath, ["scripts/after-build.mjs"], { stdio: "inherit" });
}

/**
 * Whether dist/sluice.js (the build's last output) is newer than every file the build reads: then a
 * build would write the same dist/. `npm install` builds (the prepare script) right before CI's
 * `npm test`, and the tsc it would repeat is ~25 s on one core before any test starts. A git checkout
 * or an edit gives the files it touches a new modification time, so they count as changed.
 */
function builtAfterSources(): boolean {
  const built = statSync("dist/sluice.js", { throwIfNoEntry: false })?.mtimeMs;
  if (built === undefined) return false;
  const sources = readdirSync("src", { recursive: true, encoding: "utf8" }).map((f) => join("src", f));
  const inputs = [
    ...sources,
    "tsconfig.json",
    "package.json",
    "package-lock.json",
    "scripts/after-build.mjs",
  ];
  return inputs.every((f) => (statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? Infinity) < built);
}
