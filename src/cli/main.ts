#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { ignoreClosedOutput } from "./closed-output.js";
import { registerBackfillCommand } from "./commands/backfill-command.js";
import { registerDemoCommand } from "./commands/demo-command.js";
import { registerFilesCommand } from "./commands/files-command.js";
import { registerHistoryCommand } from "./commands/history-command.js";
import { registerInitCommand } from "./commands/init-command.js";
import { registerLakeCommand } from "./commands/lake-command.js";
import { registerParquetCommand } from "./commands/parquet-command.js";
import { registerProfileCommand } from "./commands/profile-command.js";
import { registerQuarantineCommand } from "./commands/quarantine-command.js";
import { registerQueryCommand } from "./commands/query-command.js";
import { registerReplayCommand } from "./commands/replay-command.js";
import { registerRollbackCommand } from "./commands/rollback-command.js";
import { registerRunCommand } from "./commands/run-command.js";
import { registerRunsCommand } from "./commands/runs-command.js";
import { registerSchemaCommand } from "./commands/schema-command.js";
import { registerServeCommand } from "./commands/serve-command.js";
import { registerValidateCommand } from "./commands/validate-command.js";
import { registerWatchCommand } from "./commands/watch-command.js";
import { reportError } from "./output.js";

// The AWS SDK warns on every Node 20 start that future SDK releases will need Node 22; that notice is
// for the SDK's users, not Sluice's, and would clutter every command's stderr. Only that warning is muted.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

ignoreClosedOutput(process.stdout);
ignoreClosedOutput(process.stderr);

const program = new Command()
  .name("sluice")
  .description("Embedded, YAML-first data ingestion: landing files to warehouse and lake, exactly once.")
  .version("0.1.0", "-V", "output the version number")
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
  registerLakeCommand,
  registerParquetCommand,
  registerSchemaCommand,
  registerProfileCommand,
  registerReplayCommand,
  registerHistoryCommand,
  registerRollbackCommand,
  registerWatchCommand,
  registerServeCommand,
  registerFilesCommand,
  registerBackfillCommand,
]) {
  register(program);
}

// `--version` names the program's version only in first position: `sluice query --version orders=3`
// pins a lake table version, and commander would otherwise take it as the program option.
const argv = process.argv[2] === "--version" ? [...process.argv.slice(0, 2), "-V"] : process.argv;

try {
  await program.parseAsync(argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and version exit 0; usage errors exit 2 (commander already printed the message).
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else {
    process.exitCode = reportError(error, process.argv.includes("--json"));
  }
}
