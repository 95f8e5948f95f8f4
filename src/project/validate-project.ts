import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import type { PipelineConfig, ProjectConfig } from "../config/schema.js";
import { parseProblem, queryRows } from "../engine/duckdb-query.js";
import { confineEngine, ENGINE_OPEN_SETTINGS } from "../engine/engine-boundary.js";
import { outsideProject, outsideProjectProblem } from "../engine/outside-project.js";
import { sampleColumns } from "../engine/sample-columns.js";
import { validateChecks } from "../plan/check-validation.js";
import { declaredColumnProblems, keyColumnProblems } from "../plan/column-references.js";
import { byName, resolveDeclaredColumns } from "../plan/declared-columns.js";
import { didYouMean } from "../plan/nearest-name.js";
import { graphProblems } from "../plan/pipeline-graph.js";
import { postgresSideEffectProblem } from "../plan/postgres-side-effects.js";
import { cronProblem } from "../plan/schedule-plan.js";
import { expressionProbeSql, probeTypeProblem, validateSqlExpression } from "../plan/sql-expression.js";
import type { ColumnInfo } from "../plan/sql-text.js";
import { sourceQueryBody } from "../plan/sql-tokens.js";
import type { ConfigProblem } from "./config-problem.js";
import { unsupportedFeatures } from "./unsupported-features.js";
import { lakeFormatProblems, lakeTargetProblems } from "./validate-lake-target.js";
import { streamSourceProblems } from "./validate-stream-sources.js";

/**
 * Checks what the schema alone cannot: SQL expressions parse, declared types exist, pipeline references
 * resolve. Uses an in-memory DuckDB to parse; touches no data.
 *
 * @example
 * const problems = await validateProject(config); // [] when valid
 */
export async function validateProject(
  config: ProjectConfig,
  options: {
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
  } = {},
): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [...unsupportedFeatures(config), ...streamSourceProblems(config)];
  // An in-memory DuckDB parses expressions and reads sample headers; opened only when one is needed.
  let engine: { instance: DuckDBInstance; con: DuckDBConnection } | undefined;
  const connection = async (): Promise<DuckDBConnection> => {
    if (!engine) {
      const instance = await DuckDBInstance.create(":memory:", ENGINE_OPEN_SETTINGS);
      const con = await instance.connect();
      engine = { instance, con };
      await confineEngine(con, { directories: options.directories ?? [], lockConfiguration: true });
    }
    return engine.con;
  };
  const parses = async (sql: string): Promise<string | null> => parseProblem(await connection(), sql);
  /** Parses and binds a condition against the declared columns; unknown columns are left to run time. */
  const probeBoolean = async (
    sql: string,
    columns: readonly ColumnInfo[],
    allKnown = false,
  ): Promise<string | null> => {
    const unsafe = validateSqlExpression(sql);
    if (unsafe) return unsafe;
    const parse = await parses(`SELECT ${sql}`);
    if (parse) return parse;
    const outside = await outsideProjectProblem(await connection(), sql, columns);
    if (outside) return outside;
    if (columns.length === 0) return null;
    try {
      const rows = await queryRows(await connection(), expressionProbeSql(sql, columns));
      return probeTypeProblem(String(rows[0]?.type ?? ""), { boolean: true });
    } catch (error) {
      const message = (error as Error).message.split("\n")[0] ?? "";
      // A column the declared list does not know may still come from the file: checked at run time.
      if (!allKnown && /Referenced column .* not found/.test(message)) return null;
      return message;
    }
  };
  const typeExists = async (type: string): Promise<string | null> => {
    if (!spliceableType(type)) return "not a type name";
    try {
      await (await connection()).run(`SELECT NULL::${type}`);
      return null;
    } catch (error) {
      return (error as Error).message.split("\n")[0] ?? "unknown type";
    }
  };
  try {
    for (const [name, pipeline] of Object.entries(config.pipelines)) {
      const at = `pipelines.${name}`;
      if ("sql" in pipeline.source) {
        const postgres = !config.warehouse.startsWith("duckdb:");
        const problem = await sourceSqlProblem(connection, pipeline.source.sql, postgres);
        if (problem) problems.push({ path: `${at}.source.sql`, message: problem });
      }
      for (const [column, spec] of Object.entries(pipeline.columns)) {
        if (spec.type) {
          const problem = await typeExists(spec.type);
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
          (await parses(`SELECT ${expression}`)) ??
          (await outsideProjectProblem(await connection(), expression, declaredColumns(pipeline)));
        if (problem) {
          problems.push({ path: `${at}.derive.${column}`, message: problem });
          refusedDerive.add(column);
        }
      }
      // `E-Mail` and `e_mail` mean one column: every check below sees the columns by their names in the rows.
      const declared = resolveDeclaredColumns(pipeline);
      for (const problem of declared.problems) problems.push({ ...problem, path: `${at}.${problem.path}` });
      const resolved = { ...pipeline, columns: byName(declared.columns) };
      const found = await options.sampleFile?.(name);
      const sample = found && "path" in found ? found : undefined;
      const sampled = sample ? await sampleColumns(await connection(), sample.path, pipeline) : undefined;
      if (found && !sampled) {
        const reason = "unchecked" in found ? found.unchecked : `${sample!.shown} could not be read`;
        options.onUnchecked?.(name, reason);
      }
      const declaredTypes = Object.fromEntries(
        declared.columns.flatMap((c) => (c.config.type ? [[c.name, c.config.type]] : [])),
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
      // A derived column or dedupe order naming a column the sample lacks (their other problems depend
      // on types only the data tells, and are checked per file at run time).
      const probed = [
        ...Object.entries(pipeline.derive)
          .filter(([column]) => !refusedDerive.has(column))
          .map(([column, sql]) => [`derive.${column}`, sql] as const),
        ...(pipeline.dedupe?.order_by && !validateSqlExpression(pipeline.dedupe.order_by)
          ? [["dedupe.order_by", pipeline.dedupe.order_by] as const]
          : []),
      ];
      for (const [key, expression] of sampled ? probed : []) {
        const columns =
          key === "dedupe.order_by" ? [...sampled!, { name: "_sluice_row", type: "BIGINT" }] : sampled!;
        try {
          await queryRows(await connection(), expressionProbeSql(expression, columns));
        } catch (error) {
          const message = (error as Error).message.split("\n")[0] ?? "";
          if (/Referenced column .* not found/.test(message)) {
            problems.push({ path: `${at}.${key}`, message });
          }
        }
      }
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
          const problem = await probeBoolean(sql, probeColumns, sampled !== undefined);
          if (problem) problems.push({ path: `${at}.checks[${i}].${key}`, message: problem });
        }
      }
      const orderBy = pipeline.dedupe?.order_by;
      if (orderBy !== undefined && !validateSqlExpression(orderBy)) {
        const outside = await outsideProjectProblem(await connection(), orderBy, probeColumns);
        if (outside) problems.push({ path: `${at}.dedupe.order_by`, message: outside });
      }
      if (
        options.loads !== false &&
        Object.values(pipeline.columns).some((c) => c.mask === "hash") &&
        !process.env.SLUICE_MASK_SALT
      ) {
        problems.push({
          path: `${at}.columns`,
          message: "mask: hash needs a salt: set the SLUICE_MASK_SALT environment variable",
        });
      }
      if (pipeline.late_data_window && !pipeline.incremental) {
        problems.push({ path: `${at}.late_data_window`, message: "needs incremental: { cursor: <column> }" });
      }
      if (pipeline.late_data_window && !["merge", "delete_insert"].includes(pipeline.target.mode)) {
        problems.push({
          path: `${at}.late_data_window`,
          message: "re-processed partitions must replace their rows: use target.mode merge or delete_insert",
        });
      }
      if (pipeline.schedule !== undefined) {
        const problem = cronProblem(pipeline.schedule, pipeline.timezone);
        if (problem) problems.push({ path: `${at}.schedule`, message: problem });
      }
      const mode = pipeline.target.mode;
      if (
        ["merge", "scd2", "cdc"].includes(mode) &&
        !(pipeline.target.keys && pipeline.target.keys.length > 0)
      ) {
        problems.push({ path: `${at}.target.keys`, message: `mode ${mode} needs keys` });
      }
      if (
        mode === "delete_insert" &&
        !(pipeline.target.partition_by && pipeline.target.partition_by.length > 0)
      ) {
        problems.push({
          path: `${at}.target.partition_by`,
          message: "mode delete_insert needs partition_by",
        });
      }
      problems.push(...lakeTargetProblems(resolved, at));
    }
    problems.push(...graphProblems(config.pipelines));
    problems.push(...lakeFormatProblems(config.pipelines));
  } finally {
    engine?.con.closeSync();
    engine?.instance.closeSync();
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

/** A declared type is spliced into SQL as text: it must be one type, never a statement or a subquery. */
function spliceableType(type: string): boolean {
  return validateSqlExpression(type) === null && !/\bselect\b/i.test(type);
}
