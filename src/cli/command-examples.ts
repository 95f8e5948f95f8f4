import type { Command } from "commander";
import { cliName } from "./cli-name.js";

/** One example per command, shown at the end of its `--help` (keyed by the command's full name). */
const EXAMPLES: Readonly<Record<string, string>> = {
  init: "sluice init my-project",
  validate: "sluice validate --json",
  run: "sluice run orders --json",
  runs: "sluice runs --pipeline orders --limit 5",
  quarantine: "sluice quarantine orders --run <run_id> --json",
  query: 'sluice query "select status, count(*) from orders group by 1" --csv > status.csv',
  demo: "sluice demo --keep ./sluice-demo",
  "lake history": "sluice lake history orders --json",
  "lake restore": "sluice lake restore orders --to-version 3",
  "lake optimize": 'sluice lake optimize orders --where "order_year = 2025"',
  "lake vacuum": "sluice lake vacuum orders --retain 168h --dry-run",
  "parquet check": "sluice parquet check lake/orders --json",
  schema: "sluice schema > sluice.schema.json",
  profile: "sluice profile orders --json",
  replay: "sluice replay <run_id>",
  history: "sluice history orders --json",
  rollback: "sluice rollback orders --to <run_id>",
  watch: "sluice watch orders",
  worker: "sluice worker --concurrency 2 --exit-when-idle 30s",
  workers: "sluice workers --json",
  "files versions": "sluice files versions export.csv --json",
  "files restore": "sluice files restore export.csv --version 2",
  backfill: "sluice backfill orders --from 2026-01-01 --to 2026-01-31",
  serve: "sluice serve --port 8321",
};

/**
 * Adds the example of every command (and subcommand) to its help; a command without one is listed in
 * {@link commandsWithoutExample} (a test keeps that empty).
 *
 * @example
 * addExamples(program);
 */
export function addExamples(program: Command): void {
  for (const [name, command] of commands(program)) {
    const example = EXAMPLES[name];
    // Worked out when help is shown: the example calls the CLI the way the user did.
    if (example)
      command.addHelpText("after", () => `\nExample:\n  $ ${example.replace(/^sluice/, cliName())}`);
  }
}

/** Full names of commands that have no example. */
export function commandsWithoutExample(program: Command): string[] {
  return commands(program)
    .map(([name]) => name)
    .filter((name) => !EXAMPLES[name]);
}

function commands(parent: Command, prefix = ""): [string, Command][] {
  return parent.commands.flatMap((c) => {
    const name = `${prefix}${c.name()}`;
    return c.commands.length > 0 ? commands(c, `${name} `) : [[name, c] as [string, Command]];
  });
}
