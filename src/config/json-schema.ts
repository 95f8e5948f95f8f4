import { z } from "zod";
import { projectSchema } from "./schema.js";

/**
 * The JSON Schema of sluice.yaml, for editor completion and validation
 * (`# yaml-language-server: $schema=...`).
 *
 * @example
 * writeFileSync("sluice.schema.json", JSON.stringify(projectJsonSchema(), null, 2));
 */
export function projectJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(projectSchema, { io: "input", unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
  return {
    ...schema,
    $id: "https://sluice.dev/schema/sluice.schema.json",
    title: "Sluice project (sluice.yaml)",
  };
}
