// Marks the CLI entry point executable after `tsc` (npm links it as the `sluice` binary).
import { chmodSync, existsSync } from "node:fs";

const entry = new URL("../dist/cli/main.js", import.meta.url);
if (existsSync(entry)) chmodSync(entry, 0o755);
