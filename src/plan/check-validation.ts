/**
 * Static validation of a pipeline's checks, masks, derive expressions and dedupe settings,
 * for `sluice validate` and before a run. Pure: no I/O. Problems carry a config path
 * (`checks[2].column`) relative to the pipeline. The integrator should additionally run
 * `expressionProbeSql` on DuckDB for SQL expressions and try regex patterns there (RE2 is the
 * authority; the JavaScript check here catches the obvious errors).
 */

import type { CheckConfig, PipelineConfig } from "../config/schema.js";
import { checkColumns, defaultCheckName } from "./check-rules.js";
import { maskTypeProblem } from "./masking.js";
import { validateSqlExpression } from "./sql-expression.js";
import { isNumericType, isSafeTypeName } from "./sql-text.js";

export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

/**
 * Problems with a regular expression for DuckDB's RE2 engine, or null. Rejects syntax RE2 lacks
 * (lookahead/lookbehind, backreferences, atomic groups, possessive quantifiers) and anything
 * JavaScript cannot compile once RE2-only syntax (`(?i)` prefixes, `(?P<name>`, `\A`, `\z`) is
 * translated.
 *
 * @example
 * regexProblem("^[a-z]+$") // => null
 * regexProblem("(?=a)b") // => "lookahead/lookbehind ((?= (?! (?<= (?<!) is not supported by DuckDB's RE2 engine"
 */
export function regexProblem(pattern: string): string | null {
  if (/\(\?<?[=!]/.test(pattern)) {
    return "lookahead/lookbehind ((?= (?! (?<= (?<!) is not supported by DuckDB's RE2 engine";
  }
  if (pattern.includes("(?>")) return "atomic groups (?>...) are not supported by DuckDB's RE2 engine";
  if (/\(\?<(?![=!])/.test(pattern)) {
    return "named groups are written (?P<name>...) in DuckDB's RE2 engine, not (?<name>...)";
  }
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\") {
      const next = pattern[i + 1] ?? "";
      if (!inClass && /[1-9]/.test(next)) {
        return `backreferences (\\${next}) are not supported by DuckDB's RE2 engine`;
      }
      // A Unicode class (\p{Lu}, \P{Greek}) ends at its brace, which closes no repetition.
      const close = /[pP]/.test(next) && pattern[i + 2] === "{" ? pattern.indexOf("}", i + 3) : -1;
      i = close > 0 ? close : i + 1;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      continue;
    }
    if (c === "[") {
      inClass = true;
      if (pattern[i + 1] === "^") i++;
      if (pattern[i + 1] === "]") i++;
      continue;
    }
    if (/[*+?}]/.test(c) && pattern[i + 1] === "+" && i > 0) {
      return "possessive quantifiers (*+ ++ ?+) are not supported by DuckDB's RE2 engine";
    }
  }
  const translated = pattern
    .replace(/^\(\?[imsU]+\)/, "")
    .replaceAll("(?P<", "(?<")
    .replaceAll("\\A", "^")
    .replaceAll("\\z", "$");
  try {
    new RegExp(translated);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return `is not a valid regular expression: ${message.slice(message.lastIndexOf(": ") + 2)}`;
  }
  return null;
}

const STRPTIME_SPECIFIERS = new Set("aAbBcdefgGHIjmMnpSUVwWxXyYzZu%".split(""));

/**
 * Problem with a strptime format (`%d/%m/%Y`), or null.
 *
 * @example
 * dateFormatProblem("%d/%m/%Y") // => null
 * dateFormatProblem("dd/mm/yyyy") // => "expected a strptime format like %Y-%m-%d or %d/%m/%Y"
 */
export function dateFormatProblem(format: string): string | null {
  if (!format.includes("%")) return "expected a strptime format like %Y-%m-%d or %d/%m/%Y";
  for (let i = 0; i < format.length; i++) {
    if (format[i] !== "%") continue;
    const spec = format[i + 1];
    if (spec === undefined || !STRPTIME_SPECIFIERS.has(spec)) {
      return `%${spec ?? ""} is not a strptime specifier (use %Y %m %d %H %M %S ...)`;
    }
    i++;
  }
  return null;
}

function bounds(
  problems: ConfigProblem[],
  path: string,
  min: number | string | undefined,
  max: number | string | undefined,
  exclusive = false,
): void {
  if (min === undefined && max === undefined) {
    problems.push({ path, message: "set min, max or both" });
    return;
  }
  if (min === undefined || max === undefined) return;
  const comparable = typeof min === typeof max;
  if (!comparable) return;
  if (min > max) problems.push({ path: `${path}.min`, message: `min ${min} is greater than max ${max}` });
  else if (exclusive && min === max) {
    problems.push({
      path: `${path}.min`,
      message: `min and max are both ${min} with inclusive: false; no value can pass`,
    });
  }
}

function knownList(known: readonly string[]): string {
  const shown = known.slice(0, 20).join(", ");
  return known.length > 20 ? `${shown}, ...` : shown;
}

function checkProblems(
  check: CheckConfig,
  path: string,
  known: ReadonlySet<string> | undefined,
  types: Readonly<Record<string, string>>,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (known && check.rule !== "schema") {
    for (const { column, key } of checkColumns(check)) {
      if (!known.has(column)) {
        problems.push({
          path: `${path}.${key}`,
          message: `unknown column "${column}" (columns: ${knownList([...known])})`,
        });
      }
    }
  }
  if (check.where !== undefined) {
    const p = validateSqlExpression(check.where);
    if (p) problems.push({ path: `${path}.where`, message: p });
  }
  switch (check.rule) {
    case "expression": {
      const p = validateSqlExpression(check.sql);
      if (p) problems.push({ path: `${path}.sql`, message: p });
      break;
    }
    case "regex": {
      const p = regexProblem(check.pattern);
      if (p) problems.push({ path: `${path}.pattern`, message: p });
      break;
    }
    case "range":
      bounds(problems, path, check.min, check.max, check.inclusive === false);
      break;
    case "length":
    case "row_count":
      bounds(problems, path, check.min, check.max);
      break;
    case "type":
      if (!isSafeTypeName(check.type)) {
        problems.push({
          path: `${path}.type`,
          message: `"${check.type}" is not a type name like BIGINT, DATE or DECIMAL(12,2)`,
        });
      }
      break;
    case "date_format": {
      const p = dateFormatProblem(check.format);
      if (p) problems.push({ path: `${path}.format`, message: p });
      break;
    }
    case "outlier": {
      const type = types[check.column];
      if (type !== undefined && !isNumericType(type)) {
        problems.push({
          path: `${path}.column`,
          message: `outlier needs a numeric column, but ${check.column} is ${type}`,
        });
      }
      break;
    }
    default:
      break;
  }
  return problems;
}

/**
 * Validates a pipeline's checks (and the SQL/mask settings they interact with).
 * `knownColumns`: the columns available to checks (normalized source columns + derive keys),
 * or undefined when unknown (types inferred at run time): then unknown-column checks are skipped.
 * `columnTypes`: column → DuckDB type for columns whose type is known; declared
 * `columns.<name>.type` values are used in addition.
 *
 * @example
 * validateChecks(pipeline, ["order_id", "amount"]) // => [{ path: "checks[2].column", message: 'unknown column "amout" ...' }]
 */
export function validateChecks(
  pipeline: Pick<PipelineConfig, "checks" | "columns" | "derive" | "dedupe">,
  knownColumns?: readonly string[],
  columnTypes: Readonly<Record<string, string>> = {},
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const known = knownColumns ? new Set(knownColumns) : undefined;
  const types: Record<string, string> = { ...columnTypes };
  for (const [name, column] of Object.entries(pipeline.columns ?? {})) {
    if (column.type !== undefined) types[name] = column.type;
  }
  const checks = pipeline.checks ?? [];
  const named = new Map<string, number>();
  checks.forEach((check, i) => {
    const path = `checks[${i}]`;
    problems.push(...checkProblems(check, path, known, types));
    const name = defaultCheckName(check);
    const first = named.get(name);
    if (first === undefined) named.set(name, i);
    else if (check.name !== undefined) {
      problems.push({
        path: `${path}.name`,
        message: `"${name}" is already the name of checks[${first}]; names must be unique`,
      });
    }
  });
  for (const [name, column] of Object.entries(pipeline.columns ?? {})) {
    if (column.mask === undefined) continue;
    const type = types[name];
    const p = type === undefined ? null : maskTypeProblem(column.mask, type);
    if (p) problems.push({ path: `columns.${name}.mask`, message: p });
  }
  for (const [name, sql] of Object.entries(pipeline.derive ?? {})) {
    const p = validateSqlExpression(sql);
    if (p) problems.push({ path: `derive.${name}`, message: p });
  }
  if (pipeline.dedupe) {
    if (known) {
      pipeline.dedupe.keys.forEach((key, i) => {
        if (!known.has(key)) {
          problems.push({
            path: `dedupe.keys[${i}]`,
            message: `unknown column "${key}" (columns: ${knownList([...known])})`,
          });
        }
      });
    }
    if (pipeline.dedupe.order_by !== undefined) {
      const p = validateSqlExpression(pipeline.dedupe.order_by);
      if (p) problems.push({ path: "dedupe.order_by", message: p });
    }
  }
  return problems;
}
