import { execFileSync } from "node:child_process";

/**
 * End-to-end tests drive the built CLI (the `sluice` binary, dist/sluice.js): build once before the
 * suite (tsc, then the bundle) so dist/ matches src/.
 */
export default function setup(): void {
  execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { stdio: "inherit" });
  execFileSync(process.execPath, ["scripts/after-build.mjs"], { stdio: "inherit" });
}
