import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { SluiceError } from "../../errors.js";
import { createOutput } from "../output.js";

const starterConfig = `# yaml-language-server: $schema=./node_modules/sluice/schema/sluice.schema.json
# Sluice project. Reference: README.md. Run \`sluice validate\`, then \`sluice run\`.
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
      mode: append                  # append | replace
`;

const sampleCsv = `Order ID,Customer,E-mail,Amount,Order Date,Status
1001,Ada Lovelace,ada@example.com,120.50,2026-11-01,NEW
1002,Alan Turing,alan@example.com,75.00,2026-11-01,SHIPPED
1003,Grace Hopper,grace@example.com,not-a-number,2026-11-02,NEW
1004,Edsger Dijkstra,edsger@example.com,19.99,2026-11-02,CANCELLED
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
      const sample = join(root, "landing", "in", "orders", "sample.csv");
      if (!existsSync(sample)) await writeFile(sample, sampleCsv);
      output.line(`created ${configFile}`);
      output.line(`created ${sample}`);
      output.line('next: sluice validate && sluice run && sluice query "select * from orders"');
    });
}
