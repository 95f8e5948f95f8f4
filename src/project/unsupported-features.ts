import type { ProjectConfig } from "../config/schema.js";
import type { ConfigProblem } from "./config-problem.js";

/**
 * Keys the schema accepts (they are part of the contract) but this build does not act on yet.
 * Each is a configuration error naming the key, so nothing in sluice.yaml is silently ignored.
 * (None at the moment: stream sources are run by `sluice worker`.)
 */
export function unsupportedFeatures(_config: ProjectConfig): ConfigProblem[] {
  return [];
}
