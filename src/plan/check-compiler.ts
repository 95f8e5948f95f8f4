/**
 * Compiles a pipeline's `checks:` into SQL: one statement that flags every row
 * with the row-level rules it fails (single pass over the stage), and one
 * aggregate query that counts failures per rule and computes the dataset-level
 * rules. Pure: no I/O.
 */

import type { CheckConfig } from "../config/schema.js";
import { parseDuration } from "../durations.js";
import { SluiceError } from "../errors.js";
import {
  compileRowRule,
  type DatasetRule,
  defaultCheckName,
  type ForeignKeySet,
  isDatasetRule,
  type RowRule,
  type RowRuleSql,
  type RuleName,
} from "./check-rules.js";
import { validateSqlExpression, wrapExpression } from "./sql-expression.js";
import { type ColumnInfo, isStringType, quoteIdent, quoteLiteral, quoteQualified } from "./sql-text.js";

export type Severity = "error" | "warn" | "fatal";

/** How the errors of checks in the write begin (see {@link CheckPlan.inWrite}): `<mark>: <what the row did>`. */
export const CHECK_IN_WRITE_MARK = "sluice check in write";

/** One compiled rule, in config order. */
export interface RuleInfo {
  /** Position in `checks:`. */
  readonly index: number;
  /** Display name, unique within the plan (`name:` or the default, `#2` appended on clashes). */
  readonly name: string;
  readonly rule: RuleName;
  readonly severity: Severity;
  readonly level: "row" | "dataset";
}

export interface CompileChecksOptions {
  readonly checks: readonly CheckConfig[];
  /** Stage columns as DuckDB describes them (including the `_sluice_*` columns). */
  readonly columns: readonly ColumnInfo[];
  /** Table holding the batch (may be schema-qualified with a dot). */
  readonly stageTable: string;
  /** Temp table the flags statement creates (unqualified). Default `<stageTable>_checked`. */
  readonly outTable?: string;
  /** Columns whose values must never appear in reasons (masked columns). */
  readonly maskedColumns?: readonly string[];
  /** NULL passes value rules (default true, as in Great Expectations). */
  readonly nullIsPass?: boolean;
  /** Reference time for `freshness`; default the database's current_timestamp. */
  readonly now?: Date;
  /**
   * Which rows get `_sluice_reasons`: `quarantined` (default; rows kept with only `warn` failures
   * get an empty list, which saves building sentences nobody reads) or `all` failing rows.
   */
  readonly reasons?: "quarantined" | "all";
  /** The staged keys of `foreign_key` checks, by position in `checks:` (see {@link ForeignKeySet}). */
  readonly foreignKeys?: ReadonlyMap<number, ForeignKeySet> | undefined;
}

export interface CheckPlan {
  readonly rules: readonly RuleInfo[];
  readonly outTable: string;
  /**
   * `CREATE TEMP TABLE <out> AS SELECT *, _sluice_failed_rules VARCHAR[], _sluice_reasons VARCHAR[],
   * _sluice_quarantined BOOLEAN FROM <stage>`: every row of the stage, flagged. `_sluice_failed_rules`
   * lists every failed row rule (any severity); `_sluice_reasons` holds one sentence per failed rule,
   * in the same order, for quarantined rows (or every failing row with `reasons: "all"`);
   * `_sluice_quarantined` is true when an `error` or `fatal` rule failed.
   */
  readonly flagsSql: string;
  /** One aggregate query over `<out>` returning one row; read it with {@link interpretSummary}. */
  readonly summarySql: string;
  /**
   * The same summary row computed straight from the stage, without writing `<out>`: `from` is a SELECT
   * over the stage with one boolean flag per row rule, `aggregates` the summary's columns over it (rule
   * counts from the flags, so no lists or reasons are built) and `passing` the condition of a row no
   * error/fatal rule quarantines. A batch's check failures can be counted this way before it is published.
   */
  readonly counts: {
    readonly from: string;
    readonly aggregates: readonly string[];
    readonly passing: string;
  };
  /**
   * Present when every `error` and `fatal` row rule looks at its row alone (no window, join or batch
   * statistic): the checks can then be enforced while the batch is written, with no read before it.
   * `condition` is a boolean over a row of the stage that is TRUE when no such rule fails and raises an
   * error carrying {@link CHECK_IN_WRITE_MARK} otherwise (the write stops at the first such row); `aggregates`
   * is the summary over `counts.from` of rows that passed it — the rules checked in the write count 0 there and are
   * not evaluated again (warn rules and dataset rules are).
   */
  readonly inWrite?: { readonly condition: string; readonly aggregates: readonly string[] } | undefined;
  /** Internal: how to read the summary row. */
  readonly summary: readonly SummaryItem[];
  /**
   * True when a row rule joins or uses a window: the flagged table's rows are then not in the stage's
   * order, so a position (`rowid`) must be taken from the stage, not from the flagged table.
   */
  readonly reordersRows: boolean;
}

/** How one rule's result is read from the summary row. */
export type SummaryItem =
  | { readonly kind: "row"; readonly rule: RuleInfo; readonly column: string }
  | {
      readonly kind: "row_count";
      readonly rule: RuleInfo;
      readonly column: string;
      readonly min?: number;
      readonly max?: number;
    }
  | {
      readonly kind: "share";
      readonly rule: RuleInfo;
      readonly part: string;
      readonly whole: string;
      readonly min: number;
      readonly what: "non-null" | "distinct";
      readonly subject: string;
    }
  | {
      readonly kind: "freshness";
      readonly rule: RuleInfo;
      readonly column: string;
      readonly maxAgeMs: number;
      readonly maxAge: string;
      readonly subject: string;
    }
  | { readonly kind: "schema"; readonly rule: RuleInfo; readonly missing: readonly string[] };

/** The result of one rule for a batch. */
export interface CheckResult {
  readonly name: string;
  readonly rule: RuleName;
  readonly severity: Severity;
  readonly level: "row" | "dataset";
  /** Row rules: failing rows. Dataset rules: 1 when the rule failed, else 0. */
  readonly failed: number;
  readonly passed: boolean;
  /** Dataset rules: the measured value (rows, share, age in ms, missing columns). */
  readonly observed: number | string | null;
  /** Dataset rules: a sentence when failed. */
  readonly message: string | null;
}

/**
 * Whether a failed rule stops the file from being published: any `fatal` rule, and dataset rules of
 * severity `error` (row rules of severity `error` quarantine their rows instead).
 *
 * @example
 * results.filter(blocksPublish) // => the rules to name in the file's error
 */
export function blocksPublish(result: CheckResult): boolean {
  return (
    result.failed > 0 &&
    (result.severity === "fatal" || (result.level === "dataset" && result.severity === "error"))
  );
}

/**
 * Milliseconds in a duration like `10m`, `3d`, `250ms`.
 *
 * @example
 * durationMs("2h") // => 7200000
 */
export function durationMs(text: string): number {
  return parseDuration(text);
}

function uniqueNames(checks: readonly CheckConfig[]): string[] {
  const seen = new Map<string, number>();
  return checks.map((check) => {
    const base = defaultCheckName(check);
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return n === 1 ? base : `${base}#${n}`;
  });
}

function scopeOf(check: CheckConfig, path: string): string | null {
  if (check.where === undefined) return null;
  const problem = validateSqlExpression(check.where);
  if (problem) throw new SluiceError("CONFIG_INVALID", `${path}.where: ${problem}`);
  return wrapExpression(check.where);
}

function requireColumn(types: ReadonlyMap<string, string>, column: string, path: string): string {
  if (!types.has(column)) {
    throw new SluiceError("CONFIG_INVALID", `${path}.column: column "${column}" is not in the data`);
  }
  return quoteIdent(column);
}

function timestampExpr(ref: string, type: string): string {
  const upper = type.toUpperCase();
  if (upper === "TIMESTAMP WITH TIME ZONE" || upper === "TIMESTAMPTZ") return ref;
  if (isStringType(type)) return `TRY_CAST(${ref} AS TIMESTAMP)`;
  return `CAST(${ref} AS TIMESTAMP)`;
}

/**
 * Compiles checks into a {@link CheckPlan}. Throws SluiceError CONFIG_INVALID for
 * rules naming columns that are not in `columns`, bad types or unsafe SQL.
 *
 * @example
 * const plan = compileChecks({ checks, columns, stageTable: "stage", outTable: "stage_checked" });
 * await con.run(plan.flagsSql);
 * const results = interpretSummary(plan, (await con.runAndReadAll(plan.summarySql)).getRowObjectsJson()[0]!);
 */
export function compileChecks(options: CompileChecksOptions): CheckPlan {
  const types = new Map(options.columns.map((c) => [c.name, c.type]));
  const masked = new Set(options.maskedColumns ?? []);
  const nullIsPass = options.nullIsPass ?? true;
  const stage = quoteQualified(options.stageTable);
  const outTable = options.outTable ?? `${options.stageTable}_checked`;
  if (outTable === options.stageTable) {
    throw new SluiceError(
      "INTERNAL",
      `checks: the flagged table must differ from the stage table ${outTable}`,
    );
  }
  const out = quoteQualified(outTable);
  const names = uniqueNames(options.checks);
  const nowSql = options.now ? `TIMESTAMPTZ ${quoteLiteral(options.now.toISOString())}` : "current_timestamp";

  const rules: RuleInfo[] = [];
  const rowParts: { info: RuleInfo; sql: RowRuleSql; scope: string | null }[] = [];
  const summary: SummaryItem[] = [];
  const aggregates: string[] = [
    `count(*) AS "rows"`,
    `count(*) FILTER (WHERE "_sluice_quarantined") AS "quarantined"`,
  ];
  /** The summary's columns other than the row rules' counts and `quarantined`, shared with `counts`. */
  const datasetAggregates: string[] = [];
  const ruleFlagCounts: string[] = [];
  /** The same counts for rows the check in the write let through: its rules count 0 (see `CheckPlan.inWrite`). */
  const inWriteFlagCounts: string[] = [];

  options.checks.forEach((check, index) => {
    const path = `checks[${index}]`;
    const info: RuleInfo = {
      index,
      name: names[index]!,
      rule: check.rule,
      severity: check.severity ?? "error",
      level: isDatasetRule(check) ? "dataset" : "row",
    };
    rules.push(info);
    const scope = scopeOf(check, path);
    if (check.rule === "expression") {
      const problem = validateSqlExpression(check.sql);
      if (problem) throw new SluiceError("CONFIG_INVALID", `${path}.sql: ${problem}`);
    }
    if (!isDatasetRule(check)) {
      const sql = compileRowRule(check as RowRule, {
        index,
        types,
        masked,
        nullIsPass,
        scope,
        path,
        stage,
        foreignKeys: options.foreignKeys?.get(index),
      });
      rowParts.push({ info, sql, scope });
      const col = `r${index}`;
      aggregates.push(
        `count(*) FILTER (WHERE list_contains("_sluice_failed_rules", ${quoteLiteral(info.name)})) AS "${col}"`,
      );
      ruleFlagCounts.push(`count(*) FILTER (WHERE "_sluice_f${index}") AS "${col}"`);
      inWriteFlagCounts.push(
        info.severity === "warn" ? ruleFlagCounts.at(-1)! : `CAST(0 AS BIGINT) AS "${col}"`,
      );
      summary.push({ kind: "row", rule: info, column: col });
      return;
    }
    const filter = scope === null ? "" : ` FILTER (WHERE ${scope})`;
    const d = check as DatasetRule;
    switch (d.rule) {
      case "row_count": {
        datasetAggregates.push(`count(*)${filter} AS "d${index}"`);
        summary.push({ kind: "row_count", rule: info, column: `d${index}`, min: d.min, max: d.max });
        break;
      }
      case "completeness":
      case "uniqueness": {
        const ref = requireColumn(types, d.column, path);
        const part = d.rule === "completeness" ? `count(${ref})${filter}` : `count(DISTINCT ${ref})${filter}`;
        const whole = d.rule === "completeness" ? `count(*)${filter}` : `count(${ref})${filter}`;
        datasetAggregates.push(`${part} AS "d${index}_part"`, `${whole} AS "d${index}_whole"`);
        summary.push({
          kind: "share",
          rule: info,
          part: `d${index}_part`,
          whole: `d${index}_whole`,
          min: d.min,
          what: d.rule === "completeness" ? "non-null" : "distinct",
          subject: d.column,
        });
        break;
      }
      case "freshness": {
        const ref = requireColumn(types, d.column, path);
        const ts = timestampExpr(ref, types.get(d.column)!);
        datasetAggregates.push(`epoch_ms(${nowSql}) - epoch_ms(max(${ts})${filter}) AS "d${index}"`);
        summary.push({
          kind: "freshness",
          rule: info,
          column: `d${index}`,
          maxAgeMs: durationMs(d.max_age),
          maxAge: d.max_age,
          subject: d.column,
        });
        break;
      }
      case "schema": {
        summary.push({ kind: "schema", rule: info, missing: d.columns.filter((c) => !types.has(c)) });
        break;
      }
    }
  });

  const flags = buildFlagsSql(stage, out, rowParts, options.reasons ?? "quarantined");
  const condition = inWriteCondition(rowParts.filter((p) => p.info.severity !== "warn"));
  return {
    rules,
    outTable,
    flagsSql: flags.sql,
    summarySql: `SELECT ${[...aggregates, ...datasetAggregates].join(", ")} FROM ${out}`,
    summary,
    reordersRows: rowParts.some((p) => p.sql.aux.length > 0 || p.sql.joins.length > 0),
    counts: {
      from: flags.flagged,
      aggregates: [
        `count(*) AS "rows"`,
        `count(*) FILTER (WHERE ${flags.quarantined}) AS "quarantined"`,
        ...ruleFlagCounts,
        ...datasetAggregates,
      ],
      passing: `NOT (${flags.quarantined})`,
    },
    inWrite:
      condition === undefined
        ? undefined
        : {
            condition,
            aggregates: [
              `count(*) AS "rows"`,
              `CAST(0 AS BIGINT) AS "quarantined"`,
              ...inWriteFlagCounts,
              ...datasetAggregates,
            ],
          },
  };
}

/** The condition of {@link CheckPlan.inWrite} over the rules it covers; undefined when one needs more than its row. */
function inWriteCondition(
  parts: readonly { info: RuleInfo; sql: RowRuleSql; scope: string | null }[],
): string | undefined {
  if (parts.some((p) => p.sql.aux.length > 0 || p.sql.joins.length > 0)) return undefined;
  if (parts.length === 0) return "TRUE";
  const failing = parts.map((p) => {
    const pred = p.scope === null ? `(${p.sql.fail})` : `${p.scope} AND (${p.sql.fail})`;
    return `(${pred}) IS TRUE`;
  });
  const message = `${CHECK_IN_WRITE_MARK}: a row fails an error or fatal check`;
  return `CASE WHEN ${failing.join(" OR ")} THEN error(${quoteLiteral(message)}) ELSE TRUE END`;
}

function buildFlagsSql(
  stage: string,
  out: string,
  parts: readonly { info: RuleInfo; sql: RowRuleSql; scope: string | null }[],
  reasonRows: "quarantined" | "all",
): { readonly sql: string; readonly flagged: string; readonly quarantined: string } {
  if (parts.length === 0) {
    return {
      sql:
        `CREATE TEMP TABLE ${out} AS SELECT *, CAST([] AS VARCHAR[]) AS "_sluice_failed_rules", ` +
        `CAST([] AS VARCHAR[]) AS "_sluice_reasons", FALSE AS "_sluice_quarantined" FROM ${stage}`,
      flagged: `SELECT * FROM ${stage}`,
      quarantined: "FALSE",
    };
  }
  const aux = parts.flatMap((p) => p.sql.aux);
  const joins = parts.flatMap((p) => p.sql.joins);
  const auxNames = aux.map((a) => quoteIdent(a.name));
  const flags = parts.map((p) => quoteIdent(`_sluice_f${p.info.index}`));
  const failItems = parts.map((p, i) => {
    const pred = p.scope === null ? `(${p.sql.fail})` : `${p.scope} AND (${p.sql.fail})`;
    return `(${pred}) IS TRUE AS ${flags[i]}`;
  });
  const level1 = `SELECT s.*${aux.map((a) => `, ${a.sql} AS ${quoteIdent(a.name)}`).join("")} FROM ${stage} AS s${joins.map((j) => ` ${j}`).join("")}`;
  const level2 = `SELECT *, ${failItems.join(", ")} FROM (${level1})`;
  const any = flags.join(" OR ");
  const names = parts.map((p, i) => `CASE WHEN ${flags[i]} THEN ${quoteLiteral(p.info.name)} END`).join(", ");
  const reasons = parts.map((p, i) => `CASE WHEN ${flags[i]} THEN ${p.sql.reason} END`).join(", ");
  const blocking = flags.filter((_, i) => parts[i]!.info.severity !== "warn");
  const quarantined = blocking.length === 0 ? "FALSE" : blocking.join(" OR ");
  const empty = "CAST([] AS VARCHAR[])";
  const level3 =
    `SELECT * EXCLUDE (${[...auxNames, ...flags].join(", ")}), ` +
    `CASE WHEN ${any} THEN list_filter([${names}], lambda x: x IS NOT NULL) ELSE ${empty} END AS "_sluice_failed_rules", ` +
    `CASE WHEN ${reasonRows === "all" ? any : quarantined} THEN list_filter([${reasons}], lambda x: x IS NOT NULL) ` +
    `ELSE ${empty} END AS "_sluice_reasons", ` +
    `${quarantined} AS "_sluice_quarantined" FROM (${level2})`;
  return { sql: `CREATE TEMP TABLE ${out} AS ${level3}`, flagged: level2, quarantined };
}

function num(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  const n = typeof value === "number" ? value : Number(value);
  return Number.isFinite(n) ? n : null;
}

function formatAge(ms: number): string {
  if (ms >= 86_400_000) return `${(ms / 86_400_000).toFixed(1)}d`;
  if (ms >= 3_600_000) return `${(ms / 3_600_000).toFixed(1)}h`;
  if (ms >= 60_000) return `${(ms / 60_000).toFixed(1)}m`;
  return `${(ms / 1000).toFixed(1)}s`;
}

/**
 * Turns the one row returned by `plan.summarySql` into per-rule results, in config order.
 * Values may be numbers or numeric strings (as `getRowObjectsJson()` returns BIGINTs).
 *
 * @example
 * interpretSummary(plan, { rows: "10", quarantined: "1", r0: "1" })
 * // => [{ name: "not_null(id)", severity: "error", failed: 1, passed: false, ... }]
 */
export function interpretSummary(plan: CheckPlan, row: Readonly<Record<string, unknown>>): CheckResult[] {
  return plan.summary.map((item) => interpretItem(item, row));
}

function interpretItem(item: SummaryItem, row: Readonly<Record<string, unknown>>): CheckResult {
  const base = {
    name: item.rule.name,
    rule: item.rule.rule,
    severity: item.rule.severity,
    level: item.rule.level,
  };
  const verdict = (
    passed: boolean,
    observed: number | string | null,
    message: string | null,
  ): CheckResult => ({
    ...base,
    failed: passed ? 0 : 1,
    passed,
    observed,
    message: passed ? null : message,
  });
  switch (item.kind) {
    case "row": {
      const failed = num(row[item.column]) ?? 0;
      return { ...base, failed, passed: failed === 0, observed: null, message: null };
    }
    case "row_count": {
      const count = num(row[item.column]) ?? 0;
      if (item.min !== undefined && count < item.min) {
        return verdict(false, count, `${count} rows, fewer than the minimum ${item.min}`);
      }
      if (item.max !== undefined && count > item.max) {
        return verdict(false, count, `${count} rows, more than the maximum ${item.max}`);
      }
      return verdict(true, count, null);
    }
    case "share": {
      const part = num(row[item.part]) ?? 0;
      const whole = num(row[item.whole]) ?? 0;
      if (whole === 0) return verdict(true, null, null);
      const share = part / whole;
      const pct = (x: number) => `${(x * 100).toFixed(2).replace(/\.?0+$/, "")}%`;
      return verdict(
        share >= item.min,
        share,
        `${item.subject}: ${pct(share)} of values are ${item.what}, below the minimum ${pct(item.min)}`,
      );
    }
    case "freshness": {
      const age = num(row[item.column]);
      if (age === null) return verdict(false, null, `${item.subject}: no values to measure freshness`);
      return verdict(
        age <= item.maxAgeMs,
        age,
        `${item.subject}: newest value is ${formatAge(age)} old, older than ${item.maxAge}`,
      );
    }
    case "schema": {
      return verdict(
        item.missing.length === 0,
        item.missing.length === 0 ? null : item.missing.join(", "),
        `missing column${item.missing.length > 1 ? "s" : ""}: ${item.missing.join(", ")}`,
      );
    }
  }
}
