import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { projectJsonSchema } from "../../config/json-schema.js";
import { writeModes } from "../../config/schema.js";
import { SluiceError } from "../../errors.js";
import { cliName } from "../cli-name.js";
import { createOutput } from "../output.js";

// The schema comment names the file init writes beside it (editors resolve it relative to this file).
const starterConfig = `# yaml-language-server: $schema=./sluice.schema.json
# Sluice project. Run \`sluice validate\`, then \`sluice run\`. Every key: sluice.schema.json (rewrite it
# with \`sluice schema > sluice.schema.json\` after an upgrade) and docs/configuration.md in the package.
warehouse: duckdb:warehouse.duckdb
landing: landing

pipelines:
  orders:
    source:
      path: "in/orders/*.csv"       # glob relative to landing/; .gz and .zst are read too
      on_malformed: quarantine      # quarantine | drop | fail
    columns:
      order_id: { type: bigint }
      amount: { type: "decimal(12,2)" }
      order_date: { type: date, format: "%Y-%m-%d" }
    derive:
      order_year: "year(order_date)"
    max_failure_rate: 0.05
    target:
      table: orders
      mode: append                  # ${writeModes.join(" | ")}
`;

/**
 * 24 orders, one of them malformed (an amount that is not a number): below the starter's 5%
 * max_failure_rate, so the first run loads 23 rows and quarantines that one.
 */
const sampleCsv = `Order ID,Customer,E-mail,Amount,Order Date,Status
1001,Ada Lovelace,ada@example.com,9.99,2026-11-01,NEW
1002,Alan Turing,alan@example.com,47.49,2026-11-01,SHIPPED
1003,Grace Hopper,grace@example.com,not-a-number,2026-11-01,NEW
1004,Edsger Dijkstra,edsger@example.com,122.49,2026-11-01,CANCELLED
1005,Barbara Liskov,barbara@example.com,159.99,2026-11-02,SHIPPED
1006,Donald Knuth,donald@example.com,197.49,2026-11-02,NEW
1007,Frances Allen,frances@example.com,34.99,2026-11-02,NEW
1008,John Backus,john@example.com,72.49,2026-11-02,SHIPPED
1009,Margaret Hamilton,margaret@example.com,109.99,2026-11-03,NEW
1010,Ken Thompson,ken@example.com,147.49,2026-11-03,CANCELLED
1011,Radia Perlman,radia@example.com,184.99,2026-11-03,SHIPPED
1012,Dennis Ritchie,dennis@example.com,22.49,2026-11-03,NEW
1013,Ada Lovelace,ada@example.com,59.99,2026-11-04,NEW
1014,Alan Turing,alan@example.com,97.49,2026-11-04,SHIPPED
1015,Grace Hopper,grace@example.com,134.99,2026-11-04,NEW
1016,Edsger Dijkstra,edsger@example.com,172.49,2026-11-04,CANCELLED
1017,Barbara Liskov,barbara@example.com,9.99,2026-11-05,SHIPPED
1018,Donald Knuth,donald@example.com,47.49,2026-11-05,NEW
1019,Frances Allen,frances@example.com,84.99,2026-11-05,NEW
1020,John Backus,john@example.com,122.49,2026-11-05,SHIPPED
1021,Margaret Hamilton,margaret@example.com,159.99,2026-11-06,NEW
1022,Ken Thompson,ken@example.com,197.49,2026-11-06,CANCELLED
1023,Radia Perlman,radia@example.com,34.99,2026-11-06,SHIPPED
1024,Dennis Ritchie,dennis@example.com,72.49,2026-11-06,NEW
`;

/** `sluice init [dir]` */
export function registerInitCommand(program: Command): void {
  program
    .command("init")
    .description("write a starter sluice.yaml and a sample file into landing/in/")
    .argument("[dir]", "project folder", ".")
    .action(async (dir: string) => {
      const output = createOutput(false);
      const root = resolve(dir);
      const configFile = join(root, "sluice.yaml");
      if (existsSync(configFile)) {
        throw new SluiceError("USAGE", `${configFile}: already exists; not overwriting`);
      }
      await mkdir(join(root, "landing", "in", "orders"), { recursive: true });
      await writeFile(configFile, starterConfig, { flag: "wx" });
      const schemaFile = join(root, "sluice.schema.json");
      if (!existsSync(schemaFile))
        await writeFile(schemaFile, `${JSON.stringify(projectJsonSchema(), null, 2)}\n`);
      const sample = join(root, "landing", "in", "orders", "sample.csv");
      if (!existsSync(sample)) await writeFile(sample, sampleCsv);
      output.line(`created ${configFile}`);
      output.line(`created ${sample}`);
      output.line(`created ${schemaFile} (editor completion for sluice.yaml)`);
      const sluice = cliName();
      const cd = resolve(dir) === process.cwd() ? "" : `cd ${dir} && `;
      output.line(`next: ${cd}${sluice} validate && ${sluice} run && ${sluice} query "select * from orders"`);
    });
}
