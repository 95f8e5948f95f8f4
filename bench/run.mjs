// `npm run bench`: runs every workload in bench/ (each a separate process so peak memory is its own),
// then repeats the RATIO lines in one summary. Needs a build (`npm install` does it). Not part of `npm test`.
// Usage: npm run bench [-- name ...]   (e.g. npm run bench -- core lake); BENCH_ROWS=500000 for a quick run.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";

const here = new URL("./", import.meta.url).pathname;
const wanted = process.argv.slice(2);
const skip = new Set(["run.mjs", "data.mjs"]);
const workloads = readdirSync(here)
  .filter((f) => f.endsWith(".mjs") && !skip.has(f))
  .filter((f) => wanted.length === 0 || wanted.includes(f.replace(/\.mjs$/, "")))
  .sort();
const summary = [];
for (const file of workloads) {
  console.log(`\n=== ${file} ===`);
  const result = spawnSync(process.execPath, ["--expose-gc", `${here}${file}`], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  process.stdout.write(result.stdout);
  summary.push(
    ...result.stdout
      .split("\n")
      .filter((l) => l.startsWith("RATIO") || l.startsWith("PEAK") || l.startsWith("SCORE")),
  );
  if (result.status !== 0) summary.push(`ERROR ${file} exited with ${result.status}`);
}
console.log("\n=== summary ===");
for (const line of summary) console.log(line);
