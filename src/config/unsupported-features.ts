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
  for (const [name, p] of Object.entries(config.pipelines)) {
    const at = `pipelines.${name}`;
    if ("stream" in p.source) notYet(`${at}.source`, "a stream source");
    if (p.checks.length > 0) notYet(`${at}.checks`, "data-quality checks");
    if (p.dedupe) notYet(`${at}.dedupe`, "dedupe");
    if (p.anomalies) notYet(`${at}.anomalies`, "anomaly detection");
    for (const [column, spec] of Object.entries(p.columns)) {
      if (spec.mask) notYet(`${at}.columns.${column}.mask`, "masking");
    }
    if (!["append", "replace"].includes(p.target.mode)) notYet(`${at}.target.mode`, `mode ${p.target.mode}`);
    if (p.target.lake) notYet(`${at}.target.lake`, "a lake target");
    // incremental / late_data_window act on warehouse sources (sql/table); on files not yet.
    if (p.incremental && "path" in p.source) notYet(`${at}.incremental`, "incremental loading of files");
    if (p.late_data_window && !p.incremental)
      problems.push({ path: `${at}.late_data_window`, message: "needs incremental: { cursor: <column> }" });
  }
  return problems;
}
