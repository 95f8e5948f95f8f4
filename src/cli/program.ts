import { Command } from "commander";
import { addExamples } from "./command-examples.js";
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
import { registerWorkerCommand } from "./commands/worker-command.js";

/**
 * The `sluice` program with every command registered and each command's example in its help.
 *
 * @example
 * await buildProgram().parseAsync(process.argv);
 */
export function buildProgram(): Command {
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
    registerWorkerCommand,
    registerFilesCommand,
    registerBackfillCommand,
    registerServeCommand,
  ]) {
    register(program);
  }
  addExamples(program);
  return program;
}
