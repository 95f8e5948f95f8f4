import { execFileSync } from "node:child_process";

/** End-to-end tests drive the built CLI: build once before the suite so dist/ matches src/. */
export default function setup(): void {
  execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { stdio: "inherit" });
}
