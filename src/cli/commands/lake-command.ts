import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import type { Command } from "commander";
import { parseDuration } from "../../durations.js";
import { ENGINE_OPEN_SETTINGS } from "../../engine/engine-boundary.js";
import { SluiceError } from "../../errors.js";
import { history, optimize, restore, vacuum } from "../../lake/delta-operations.js";
import { loadSnapshot } from "../../lake/delta-snapshot.js";
import type { ColumnPredicate } from "../../lake/file-pruning.js";
import { findLakeTable, type ProjectLakeTable } from "../../runner/lake-tables.js";
import { type GlobalOptions, openProject } from "../command-context.js";
import { createOutput, type Output, table } from "../output.js";

/** `sluice lake history | restore | optimize | vacuum <table>` */
export function registerLakeCommand(program: Command): void {
  const lake = program.command("lake").description("Delta lake tables: history and maintenance");

  lake
    .command("history")
    .description("commits of a lake table, newest first")
    .argument("<table>", "lake table name")
    .option("--json", "print JSON", false)
    .action(async (name: string, opts: { json: boolean }, cmd: Command) => {
      const output = createOutput(opts.json);
      const t = await deltaTable(cmd, output, name);
      const entries = await history(t.table);
      const rows = entries.map((h) => ({
        version: h.version,
        timestamp: new Date(h.timestamp).toISOString(),
        operation: h.operation,
        files_added: h.filesAdded,
        files_removed: h.filesRemoved,
        rows_added: h.rowsAdded,
        parameters: h.operationParameters,
      }));
      if (opts.json) output.document({ table: name, history: rows });
      else
        output.line(
          table(
            rows.map(({ parameters: _p, ...r }) => r),
            ["version", "timestamp", "operation", "files_added", "files_removed", "rows_added"],
          ),
        );
    });

  lake
    .command("restore")
    .description("restore a lake table's content as of a version (a new commit; history is kept)")
    .argument("<table>", "lake table name")
    .requiredOption("--to-version <n>", "version to restore")
    .option("--json", "print JSON", false)
    .action(async (name: string, opts: { toVersion: string; json: boolean }, cmd: Command) => {
      const output = createOutput(opts.json);
      if (!/^\d+$/.test(opts.toVersion)) {
        throw new SluiceError("USAGE", `--to-version ${opts.toVersion}: expected a whole number`);
      }
      const t = await deltaTable(cmd, output, name);
      const result = await withEngine((con) => restore(con, t.table, Number(opts.toVersion)));
      if (opts.json)
        output.document({ table: name, restored_version: Number(opts.toVersion), ...snake(result) });
      else
        output.line(
          `${name}: restored version ${opts.toVersion} as version ${result.version} (${result.filesAdded} files re-added, ${result.filesRemoved} removed)`,
        );
    });

  lake
    .command("optimize")
    .description("compact small files per partition (readers see the same rows)")
    .argument("<table>", "lake table name")
    .option("--where <sql>", "only partitions matching, e.g. \"order_year = 2025 AND region = 'eu'\"")
    .option("--target-file-size <size>", "target file size, e.g. 128MB")
    .option("--json", "print JSON", false)
    .action(
      async (
        name: string,
        opts: { where?: string; targetFileSize?: string; json: boolean },
        cmd: Command,
      ) => {
        const output = createOutput(opts.json);
        const t = await deltaTable(cmd, output, name);
        const result = await withEngine(async (con) => {
          const where = opts.where ? parseWhere(opts.where) : undefined;
          if (where) {
            const partitions = (await loadSnapshot(con, t.table)).metadata.partitionColumns;
            for (const p of where) {
              if (!partitions.includes(p.column)) {
                throw new SluiceError(
                  "USAGE",
                  `--where: ${p.column} is not a partition column of ${name} (partitioned by ${partitions.join(", ") || "nothing"})`,
                );
              }
            }
          }
          return optimize(con, t.table, {
            ...(where ? { where } : {}),
            ...(opts.targetFileSize ? { targetFileSize: opts.targetFileSize } : {}),
          });
        });
        if (opts.json) output.document({ table: name, ...snake(result) });
        else if (result.version === null) output.line(`${name}: nothing to compact`);
        else
          output.line(
            `${name}: version ${result.version}: compacted ${result.filesRemoved} files into ${result.filesAdded}`,
          );
      },
    );

  lake
    .command("vacuum")
    .description("delete data files no version inside the retention window needs")
    .argument("<table>", "lake table name")
    .option("--retain <duration>", "keep files needed by versions of this period", "168h")
    .option("--dry-run", "list the files without deleting them", false)
    .option("--force-short-retention", "allow --retain under 168h (breaks time travel further back)", false)
    .option("--json", "print JSON", false)
    .action(
      async (
        name: string,
        opts: { retain: string; dryRun: boolean; forceShortRetention: boolean; json: boolean },
        cmd: Command,
      ) => {
        const output = createOutput(opts.json);
        let retainMs: number;
        try {
          retainMs = parseDuration(opts.retain, "--retain");
        } catch (error) {
          throw new SluiceError("USAGE", (error as Error).message, { cause: error });
        }
        const retainHours = retainMs / 3_600_000;
        if (retainHours < 168 && !opts.forceShortRetention) {
          throw new SluiceError(
            "USAGE",
            `--retain ${opts.retain} is under 168h: time travel and slow readers may lose files; add --force-short-retention to do it anyway`,
          );
        }
        const t = await deltaTable(cmd, output, name);
        const result = await withEngine((con) =>
          vacuum(con, t.table, {
            retainHours,
            dryRun: opts.dryRun,
            allowShortRetention: opts.forceShortRetention,
          }),
        );
        if (opts.json) {
          output.document({
            table: name,
            dry_run: opts.dryRun,
            files: result.files,
            deleted: result.deleted,
          });
          return;
        }
        const verb = opts.dryRun ? "would delete" : "deleted";
        output.line(`${name}: ${verb} ${result.files.length} file${result.files.length === 1 ? "" : "s"}`);
        for (const f of result.files) output.line(`  ${f}`);
      },
    );
}

async function deltaTable(cmd: Command, output: Output, name: string): Promise<ProjectLakeTable> {
  // Lake maintenance moves files already written (masked): it needs no salt and no landing sample.
  const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output, "reads");
  const t = await findLakeTable(ctx, name);
  if (!t.exists) throw new SluiceError("LAKE_ERROR", `lake table ${name}: nothing published yet`);
  if (t.format !== "delta") {
    throw new SluiceError("USAGE", `lake table ${name} is plain Parquet; this command needs a Delta table`);
  }
  return t;
}

async function withEngine<T>(work: (con: DuckDBConnection) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(":memory:", ENGINE_OPEN_SETTINGS);
  const con = await instance.connect();
  try {
    return await work(con);
  } finally {
    con.closeSync();
    instance.closeSync();
  }
}

function snake(value: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]),
  );
}

/**
 * Parses `col op literal [AND ...]` (ops = != <> < <= > >=, IS [NOT] NULL; literals: numbers,
 * 'strings', true/false; a column name may be double-quoted) into predicates.
 *
 * @example
 * parseWhere("order_year = 2025 AND region = 'eu'");
 */
export function parseWhere(sql: string): ColumnPredicate[] {
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  const tokens = sql.split(/('(?:[^']|'')*')/);
  for (const token of tokens) {
    quoted = token.startsWith("'");
    if (quoted) {
      current += token;
      continue;
    }
    const pieces = token.split(/\s+and\s+/i);
    current += pieces[0];
    for (const piece of pieces.slice(1)) {
      parts.push(current);
      current = piece;
    }
  }
  parts.push(current);
  return parts.map((raw) => {
    const text = raw.trim();
    const isNull = new RegExp(`^${COLUMN}\\s+is\\s+(not\\s+)?null$`, "i").exec(text);
    if (isNull) return { column: columnName(isNull), op: isNull[3] ? "is not null" : "is null" };
    const m = new RegExp(`^${COLUMN}\\s*(=|!=|<>|<=|>=|<|>)\\s*(.+)$`).exec(text);
    if (!m) {
      throw new SluiceError(
        "USAGE",
        `--where: cannot read "${text}"; use <partition column> <op> <value> joined by AND (op: = != < <= > >=, IS [NOT] NULL)`,
      );
    }
    const op = (m[3] === "<>" ? "!=" : m[3]) as ColumnPredicate["op"];
    const literal = m[4]!.trim();
    let value: string | number | boolean;
    if (/^'(?:[^']|'')*'$/.test(literal)) value = literal.slice(1, -1).replaceAll("''", "'");
    else if (/^-?\d+(\.\d+)?$/.test(literal)) value = Number(literal);
    else if (/^(true|false)$/i.test(literal)) value = literal.toLowerCase() === "true";
    else throw new SluiceError("USAGE", `--where: ${literal} is not a number, 'string', true or false`);
    return { column: columnName(m), op, value };
  });
}

/** A partition column: a plain name, or a double-quoted one (`"Region Name"`, `""` for a quote). */
const COLUMN = `(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_]*))`;

function columnName(match: RegExpExecArray): string {
  return match[1] !== undefined ? match[1].replaceAll('""', '"') : match[2]!;
}
