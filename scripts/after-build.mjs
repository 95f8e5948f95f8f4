// After `tsc`: bundles the CLI into one file (dist/sluice.js, the `sluice` binary) and writes the JSON
// Schema of sluice.yaml to schema/sluice.schema.json for editor completion.
//
// Why a bundle: loading the CLI as ~600 separate ES modules (its own, zod, yaml, DuckDB's API, ...) costs
// Node ~0.2 s on every command before any work starts; one file loads in a fraction of that. DuckDB's
// native binding stays a package (resolved from node_modules at run time); the per-module build in
// dist/ is kept for the library API (`import ... from "sluice"`) and as `node dist/cli/main.js`.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { build } from "esbuild";

const outfile = new URL("../dist/sluice.js", import.meta.url).pathname;
await build({
  entryPoints: [new URL("../dist/cli/main.js", import.meta.url).pathname],
  outfile,
  bundle: true,
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
chmodSync(outfile, 0o755);
chmodSync(new URL("../dist/cli/main.js", import.meta.url), 0o755);

const { projectJsonSchema } = await import("../dist/config/json-schema.js");
mkdirSync(new URL("../schema/", import.meta.url), { recursive: true });
writeFileSync(
  new URL("../schema/sluice.schema.json", import.meta.url),
  `${JSON.stringify(projectJsonSchema(), null, 2)}\n`,
);
