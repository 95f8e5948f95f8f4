import type { ConfigProblem } from "./load-config.js";
import type { ProjectConfig } from "./schema.js";

/**
 * Keys the schema accepts (they are part of the contract) but this build does not act on yet.
 * Each is a configuration error naming the key, so nothing in sluice.yaml is silently ignored.
 */
export function unsupportedFeatures(config: ProjectConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const notYet = (path: string, what: string) =>
    problems.push({ path, message: `${what} is not supported by this build yet` });
  if (config.alerts.length > 0) notYet("alerts", "alerting");
  for (const [name, p] of Object.entries(config.pipelines)) {
    const at = `pipelines.${name}`;
    if (!("path" in p.source)) notYet(`${at}.source`, "a non-file source");
    if (p.schedule) notYet(`${at}.schedule`, "scheduling");
    if (p.late_data_window) notYet(`${at}.late_data_window`, "late data re-processing");
    if (p.retries) notYet(`${at}.retries`, "retries");
  }
  return problems;
}
