#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { registerBackfillCommand } from "./commands/backfill-command.js";
import { registerDemoCommand } from "./commands/demo-command.js";
import { registerFilesCommand } from "./commands/files-command.js";
import { registerInitCommand } from "./commands/init-command.js";
import { registerQuarantineCommand } from "./commands/quarantine-command.js";
import { registerQueryCommand } from "./commands/query-command.js";
import { registerRunCommand } from "./commands/run-command.js";
import { registerRunsCommand } from "./commands/runs-command.js";
import { registerSchemaCommand } from "./commands/schema-command.js";
import { registerValidateCommand } from "./commands/validate-command.js";
import { registerWatchCommand } from "./commands/watch-command.js";
import { reportError } from "./output.js";

// The AWS SDK warns on every Node 20 start that future SDK releases will need Node 22; that notice is
// for the SDK's users, not Sluice's, and would clutter every command's stderr. Only that warning is muted.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const program = new Command()
  .name("sluice")
  .description("Embedded, YAML-first data ingestion: landing files to warehouse and lake, exactly once.")
  // `files restore --version <n>` owns --version; elsewhere it prints Sluice's version.
  .version("0.1.0", ownsVersionFlag(process.argv) ? "-V" : "-V, --version")
  .option("-c, --config <file>", "project file (default: ./sluice.yaml)")
  .showHelpAfterError()
  .exitOverride();

for (const register of [
  registerInitCommand,
  registerValidateCommand,
  registerRunCommand,
  registerRunsCommand,
  registerQuarantineCommand,
  registerQueryCommand,
  registerDemoCommand,
  registerSchemaCommand,
  registerWatchCommand,
  registerFilesCommand,
  registerBackfillCommand,
]) {
  register(program);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and version exit 0; usage errors exit 2 (commander already printed the message).
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else {
    process.exitCode = reportError(error, process.argv.includes("--json"));
  }
}

/** True when the command line is `sluice ... files restore ...`, whose `--version <n>` is a file version. */
function ownsVersionFlag(argv: readonly string[]): boolean {
  const words = argv.slice(2);
  const files = words.indexOf("files");
  return files !== -1 && words[files + 1] === "restore";
}
