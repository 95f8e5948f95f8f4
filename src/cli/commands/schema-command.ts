import type { Command } from "commander";
import { projectJsonSchema } from "../../config/json-schema.js";
import { createOutput } from "../output.js";

/** `sluice schema` — prints the JSON Schema of sluice.yaml. */
export function registerSchemaCommand(program: Command): void {
  program
    .command("schema")
    .description("print the JSON Schema of sluice.yaml (for editor completion)")
    .action(() => {
      createOutput(true).document(projectJsonSchema());
    });
}
