// After `tsc`: marks the CLI entry point executable (npm links it as the `sluice` binary) and writes the
// JSON Schema of sluice.yaml to schema/sluice.schema.json for editor completion.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";

const entry = new URL("../dist/cli/main.js", import.meta.url);
if (existsSync(entry)) chmodSync(entry, 0o755);

const { projectJsonSchema } = await import("../dist/config/json-schema.js");
mkdirSync(new URL("../schema/", import.meta.url), { recursive: true });
writeFileSync(
  new URL("../schema/sluice.schema.json", import.meta.url),
  `${JSON.stringify(projectJsonSchema(), null, 2)}\n`,
);
