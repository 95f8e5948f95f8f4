import { SluiceError } from "../errors.js";

/**
 * Throws `PIPELINE_UNKNOWN` (a usage error, exit 2) for the first requested name the project does not
 * define, naming the defined ones.
 *
 * @example
 * assertKnownPipelines(config.pipelines, ["orders"]);
 */
export function assertKnownPipelines(
  pipelines: Readonly<Record<string, unknown>>,
  requested: readonly string[],
): void {
  for (const name of requested) {
    if (!Object.hasOwn(pipelines, name)) {
      throw new SluiceError(
        "PIPELINE_UNKNOWN",
        `unknown pipeline ${name} (defined: ${Object.keys(pipelines).join(", ")})`,
      );
    }
  }
}
