import { describe, expect, it } from "vitest";
import { commandsWithoutExample } from "../../src/cli/command-examples.js";
import { buildProgram } from "../../src/cli/program.js";

describe("--help of each command", () => {
  it("every command has an example", () => {
    expect(commandsWithoutExample(buildProgram())).toEqual([]);
  });

  it("shows it under Example:", () => {
    const program = buildProgram();
    const lake = program.commands.find((c) => c.name() === "lake")!;
    const vacuum = lake.commands.find((c) => c.name() === "vacuum")!;
    let help = "";
    vacuum.configureOutput({ writeOut: (text) => (help += text) });
    vacuum.outputHelp();
    expect(help).toMatch(/\nExample:\n {2}\$ .*sluice\S* lake vacuum orders --retain 168h --dry-run\n/);
  });
});
