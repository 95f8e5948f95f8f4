import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { projectJsonSchema } from "../../src/config/json-schema.js";

describe("JSON Schema export", () => {
  it("describes pipelines with sources, checks and targets", () => {
    const schema = projectJsonSchema() as {
      properties: Record<string, { additionalProperties?: { properties?: Record<string, unknown> } }>;
    };
    const pipeline = schema.properties.pipelines!.additionalProperties!.properties!;
    expect(Object.keys(pipeline)).toEqual(
      expect.arrayContaining(["source", "columns", "derive", "checks", "target", "dedupe"]),
    );
  });

  it("the published schema file matches the code (rebuilt by npm run build)", () => {
    const published = JSON.parse(readFileSync("schema/sluice.schema.json", "utf8"));
    expect(published).toEqual(projectJsonSchema());
  });
});
