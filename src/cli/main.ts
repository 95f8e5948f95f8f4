#!/usr/bin/env node
import { CommanderError } from "commander";
import { ignoreClosedOutput } from "./closed-output.js";
import { reportError } from "./output.js";
import { buildProgram } from "./program.js";

// The AWS SDK warns on every Node 20 start that future SDK releases will need Node 22; that notice is
// for the SDK's users, not Sluice's, and would clutter every command's stderr. Only that warning is muted.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

ignoreClosedOutput(process.stdout);
ignoreClosedOutput(process.stderr);

const program = buildProgram();

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
