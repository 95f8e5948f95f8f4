import type { ProjectConfig } from "../config/schema.js";
import type { ConfigProblem } from "./config-problem.js";

/**
 * Keys the schema accepts (they are part of the contract) but this build does not act on yet.
 * Each is a configuration error naming the key, so nothing in sluice.yaml is silently ignored.
 */
export function unsupportedFeatures(config: ProjectConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const notYet = (path: string, what: string) =>
    problems.push({ path, message: `${what} is not supported by this build yet` });
  for (const [name, p] of Object.entries(config.pipelines)) {
    const at = `pipelines.${name}`;
    if ("stream" in p.source) notYet(`${at}.source`, "a stream source");
  }
  return problems;
}
