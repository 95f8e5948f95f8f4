import type { DuckDBConnection } from "@duckdb/node-api";
import type { PipelineConfig, ProjectConfig } from "../config/schema.js";
import { queryRows } from "../engine/duckdb-query.js";
import { outsideProject, outsideProjectProblem } from "../engine/outside-project.js";
import { sampleColumns } from "../engine/sample-columns.js";
import { validateChecks } from "../plan/check-validation.js";
import { declaredColumnProblems, keyColumnProblems } from "../plan/column-references.js";
import { byName, resolveDeclaredColumns } from "../plan/declared-columns.js";
import { didYouMean } from "../plan/nearest-name.js";
import { graphProblems } from "../plan/pipeline-graph.js";
import { postgresSideEffectProblem } from "../plan/postgres-side-effects.js";
import { expressionProbeSql, validateSqlExpression } from "../plan/sql-expression.js";
import type { ColumnInfo } from "../plan/sql-text.js";
import { sourceQueryBody } from "../plan/sql-tokens.js";
import type { ConfigProblem } from "./config-problem.js";
import { pipelineRuleProblems } from "./pipeline-rule-problems.js";
import { unsupportedFeatures } from "./unsupported-features.js";
import { lakeFormatProblems, lakeTargetProblems } from "./validate-lake-target.js";
import { streamSourceProblems } from "./validate-stream-sources.js";
import { spliceableType, type ValidationEngine, validationEngine } from "./validation-engine.js";

/** Options of {@link validateProject}. */
export interface ValidateOptions {
  /**
   * A local sample file of a pipeline's source (from the landing zone), to learn its columns: its
   * local `path` and the name `shown` in messages; or why there is none; undefined when the pipeline
   * names no column.
   */
  readonly sampleFile?: (pipeline: string) => Promise<SampleFile | undefined>;
  /** Told of each pipeline whose named columns could not be checked against data, and why. */
  readonly onUnchecked?: (pipeline: string, reason: string) => void;
  /** False for commands that only read what was loaded: the environment a load needs is not checked. */
  readonly loads?: boolean;
  /**
   * Folders the expressions may read (the landing zone with the samples, Sluice's scratch folder): the
   * engine that binds them is confined to these, like the run's.
   */
  readonly directories?: readonly string[];
}

/**
 * Checks what the schema alone cannot: SQL expressions parse, declared types exist, pipeline references
 * resolve. Uses an in-memory DuckDB to parse; touches no data.
 *
 * @example
 * const problems = await validateProject(config); // [] when valid
 */
export async function validateProject(
  config: ProjectConfig,
  options: ValidateOptions = {},
): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [...unsupportedFeatures(config), ...streamSourceProblems(config)];
  const engine = validationEngine(options.directories ?? []);
  try {
    for (const [name, pipeline] of Object.entries(config.pipelines)) {
      const at = `pipelines.${name}`;
      const postgres = !config.warehouse.startsWith("duckdb:");
      const { problems: declaredProblems, refusedDerive } = await declarationProblems(
        engine,
        pipeline,
        at,
        postgres,
      );
      problems.push(...declaredProblems);
      // `E-Mail` and `e_mail` mean one column: every check below sees the columns by their names in the rows.
      const declared = resolveDeclaredColumns(pipeline);
      for (const problem of declared.problems) problems.push({ ...problem, path: `${at}.${problem.path}` });
      const resolved = { ...pipeline, columns: byName(declared.columns) };
      problems.push(
        ...(await columnUseProblems(
          engine,
          name,
          pipeline,
          resolved,
          declared.columns,
          refusedDerive,
          options,
        )),
      );
      problems.push(...pipelineRuleProblems(pipeline, at, options.loads !== false));
      problems.push(...lakeTargetProblems(resolved, at));
    }
    problems.push(...graphProblems(config.pipelines));
    problems.push(...lakeFormatProblems(config.pipelines));
  } finally {
    engine.close();
  }
  return problems;
}

/**
 * What a pipeline declares, checked alone: its source query, column types and formats, and that its
 * derived columns parse and stay inside the project. Derived columns refused here are never run.
 */
async function declarationProblems(
  engine: ValidationEngine,
  pipeline: PipelineConfig,
  at: string,
  postgres: boolean,
): Promise<{ problems: ConfigProblem[]; refusedDerive: Set<string> }> {
  const problems: ConfigProblem[] = [];
  if ("sql" in pipeline.source) {
    const problem = await sourceSqlProblem(engine.connection, pipeline.source.sql, postgres);
    if (problem) problems.push({ path: `${at}.source.sql`, message: problem });
  }
  for (const [column, spec] of Object.entries(pipeline.columns)) {
    if (spec.type) {
      const problem = await engine.typeExists(spec.type);
      if (problem)
        problems.push({ path: `${at}.columns.${column}.type`, message: unknownTypeMessage(spec.type) });
    }
    if (spec.format && spec.type && !/^(date|timestamp)/i.test(spec.type)) {
      problems.push({
        path: `${at}.columns.${column}.format`,
        message: `format applies to date and timestamp columns, not ${spec.type}`,
      });
    }
  }
  // Derived columns whose SQL is refused or does not parse are never run (not even against a sample).
  const refusedDerive = new Set<string>();
  for (const [column, expression] of Object.entries(pipeline.derive)) {
    // Refused SQL is reported by validateChecks (below); it is neither parsed nor bound here.
    if (validateSqlExpression(expression)) {
      refusedDerive.add(column);
      continue;
    }
    const problem =
      (await engine.parses(`SELECT ${expression}`)) ??
      (await outsideProjectProblem(await engine.connection(), expression, declaredColumns(pipeline)));
    if (problem) {
      problems.push({ path: `${at}.derive.${column}`, message: problem });
      refusedDerive.add(column);
    }
  }
  return { problems, refusedDerive };
}

/**
 * The columns a pipeline's checks, derived columns, keys and dedupe order use, against its sample file
 * when there is one (then an unknown column is a problem here) or its declared columns.
 */
async function columnUseProblems(
  engine: ValidationEngine,
  name: string,
  pipeline: PipelineConfig,
  resolved: PipelineConfig,
  declared: ReturnType<typeof resolveDeclaredColumns>["columns"],
  refusedDerive: ReadonlySet<string>,
  options: ValidateOptions,
): Promise<ConfigProblem[]> {
  const at = `pipelines.${name}`;
  const problems: ConfigProblem[] = [];
  const found = await options.sampleFile?.(name);
  const sample = found && "path" in found ? found : undefined;
  const sampled = sample ? await sampleColumns(await engine.connection(), sample.path, pipeline) : undefined;
  if (found && !sampled) {
    const reason = "unchecked" in found ? found.unchecked : `${sample!.shown} could not be read`;
    options.onUnchecked?.(name, reason);
  }
  const declaredTypes = Object.fromEntries(
    declared.flatMap((c) => (c.config.type ? [[c.name, c.config.type]] : [])),
  );
  for (const problem of [
    ...validateChecks(
      pipeline,
      sampled?.map((c) => c.name),
      declaredTypes,
    ),
    ...declaredColumnProblems(pipeline, sampled, sample?.shown ?? ""),
    ...(sampled ? keyColumnProblems(pipeline, sampled) : []),
  ]) {
    problems.push({ path: `${at}.${problem.path}`, message: problem.message });
  }
  if (sampled)
    problems.push(...(await sampledExpressionProblems(engine, pipeline, at, sampled, refusedDerive)));
  // With a sample the rules' SQL is bound to the file's columns: an unknown one is a problem here.
  const probeColumns = sampled
    ? [...sampled, { name: "_sluice_row", type: "BIGINT" }]
    : declaredColumns(resolved);
  for (const [i, check] of pipeline.checks.entries()) {
    for (const [key, sql] of [
      ["sql", check.rule === "expression" ? check.sql : undefined],
      ["where", check.where],
    ] as const) {
      if (sql === undefined) continue;
      const problem = await engine.probeBoolean(sql, probeColumns, sampled !== undefined);
      if (problem) problems.push({ path: `${at}.checks[${i}].${key}`, message: problem });
    }
  }
  const orderBy = pipeline.dedupe?.order_by;
  if (orderBy !== undefined && !validateSqlExpression(orderBy)) {
    const outside = await outsideProjectProblem(await engine.connection(), orderBy, probeColumns);
    if (outside) problems.push({ path: `${at}.dedupe.order_by`, message: outside });
  }
  return problems;
}

/**
 * A derived column or dedupe order naming a column the sample lacks (their other problems depend on
 * types only the data tells, and are checked per file at run time).
 */
async function sampledExpressionProblems(
  engine: ValidationEngine,
  pipeline: PipelineConfig,
  at: string,
  sampled: readonly ColumnInfo[],
  refusedDerive: ReadonlySet<string>,
): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  const probed = [
    ...Object.entries(pipeline.derive)
      .filter(([column]) => !refusedDerive.has(column))
      .map(([column, sql]) => [`derive.${column}`, sql] as const),
    ...(pipeline.dedupe?.order_by && !validateSqlExpression(pipeline.dedupe.order_by)
      ? [["dedupe.order_by", pipeline.dedupe.order_by] as const]
      : []),
  ];
  for (const [key, expression] of probed) {
    const columns =
      key === "dedupe.order_by" ? [...sampled, { name: "_sluice_row", type: "BIGINT" }] : sampled;
    try {
      await queryRows(await engine.connection(), expressionProbeSql(expression, columns));
    } catch (error) {
      const message = (error as Error).message.split("\n")[0] ?? "";
      if (/Referenced column .* not found/.test(message)) {
        problems.push({ path: `${at}.${key}`, message });
      }
    }
  }
  return problems;
}

/** What a pipeline's sample is: a local file (`path`, and `shown` in messages), or why there is none. */
export type SampleFile = { readonly path: string; readonly shown: string } | { readonly unchecked: string };

/** Type names DuckDB knows, aliases included, for suggestions. */
const TYPE_NAMES = [
  "boolean",
  "bool",
  "tinyint",
  "smallint",
  "integer",
  "int",
  "bigint",
  "hugeint",
  "utinyint",
  "usmallint",
  "uinteger",
  "ubigint",
  "float",
  "real",
  "double",
  "decimal",
  "numeric",
  "varchar",
  "text",
  "string",
  "char",
  "date",
  "time",
  "timestamp",
  "timestamptz",
  "datetime",
  "interval",
  "uuid",
  "blob",
  "json",
];

/** `unknown type strng; did you mean \`string\`? ...` with the common types listed. */
function unknownTypeMessage(type: string): string {
  const base = type.replace(/\(.*$/, "").trim();
  const near = didYouMean(base, TYPE_NAMES);
  return `unknown type ${type}${near}${near ? " Types" : "; types"}: boolean, integer, bigint, double, decimal(p,s), varchar, date, time, timestamp, timestamptz, interval, uuid, blob, json (and DuckDB's other types and aliases, e.g. int, text, smallint, float)`;
}

/**
 * Why a pipeline's `source.sql` cannot run, or null: several statements, functions with effects beyond
 * a read-only query (PostgreSQL), or a file or URL outside the project (DuckDB; bound, never run —
 * the warehouse's tables are not there, so only a refused path is reported here).
 */
async function sourceSqlProblem(
  connection: () => Promise<DuckDBConnection>,
  sql: string,
  postgres: boolean,
): Promise<string | null> {
  const read = sourceQueryBody(sql);
  if ("problem" in read) return read.problem;
  if (postgres) return postgresSideEffectProblem(read.body);
  try {
    await (await connection()).run(`DESCRIBE SELECT * FROM (${read.body}\n)`);
    return null;
  } catch (error) {
    return outsideProject(error instanceof Error ? error.message : String(error)) ?? null;
  }
}

/** Declared columns with a type (enough to bind expressions that only use them). */
function declaredColumns(pipeline: PipelineConfig): ColumnInfo[] {
  return Object.entries(pipeline.columns)
    .filter(([, c]) => c.type !== undefined && spliceableType(c.type))
    .map(([name, c]) => ({ name, type: c.type! }));
}
