// After `tsc`: bundles the CLI (dist/sluice.js, the `sluice` binary, and its chunks in dist/bin/) and writes the JSON
// Schema of sluice.yaml to schema/sluice.schema.json for editor completion.
//
// Why a bundle: loading the CLI as ~600 separate ES modules (its own, zod, yaml, DuckDB's API, ...) costs
// Node ~0.2 s on every command before any work starts; a bundle loads in a fraction of that. DuckDB's
// native binding stays a package (resolved from node_modules at run time); the per-module build in
// dist/ is kept for the library API (`import ... from "sluice"`) and as `node dist/cli/main.js`.
import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { build } from "esbuild";

// Code that only some commands need (the AWS SDK for S3, the PostgreSQL driver) is split into chunks
// loaded by dynamic import() on first use, so every other command starts without parsing it. The chunks
// live in dist/bin/; dist/sluice.js is a one-line entry that imports the bundled main.
const outdir = new URL("../dist/bin/", import.meta.url).pathname;
const outfile = new URL("../dist/sluice.js", import.meta.url).pathname;
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { main: new URL("../dist/cli/main.js", import.meta.url).pathname },
  outdir,
  bundle: true,
  splitting: true,
  chunkNames: "chunk-[hash]",
  platform: "node",
  format: "esm",
  target: "node20",
  // Native code and optional native drivers are loaded from node_modules, never bundled.
  external: ["@duckdb/node-bindings", "@duckdb/node-bindings-*", "pg-native"],
  // CommonJS dependencies inside an ES module bundle still need `require` for Node built-ins.
  banner: {
    js: 'import { createRequire as sluiceCreateRequire } from "node:module";\nconst require = sluiceCreateRequire(import.meta.url);',
  },
  keepNames: true,
  logLevel: "warning",
});
writeFileSync(outfile, '#!/usr/bin/env node\nimport "./bin/main.js";\n');
chmodSync(outfile, 0o755);
chmodSync(new URL("../dist/cli/main.js", import.meta.url), 0o755);

const { projectJsonSchema } = await import("../dist/config/json-schema.js");
mkdirSync(new URL("../schema/", import.meta.url), { recursive: true });
writeFileSync(
  new URL("../schema/sluice.schema.json", import.meta.url),
  `${JSON.stringify(projectJsonSchema(), null, 2)}\n`,
);
