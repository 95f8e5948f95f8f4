import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import type { Command } from "commander";
import { ENGINE_OPEN_SETTINGS } from "../../engine/engine-boundary.js";
import { SluiceError } from "../../errors.js";
import { checkParquet, recoverParquet } from "../../lake/parquet-health.js";
import { createOutput } from "../output.js";

/** `sluice parquet check <path...> [--json] [--recover <out>]` */
export function registerParquetCommand(program: Command): void {
  const parquet = program.command("parquet").description("Parquet file health");
  parquet
    .command("check")
    .description("validate Parquet files (folders: every *.parquet below); exit 1 when any is damaged")
    .argument("<path...>", "Parquet files or folders")
    .option("--recover <out>", "salvage the readable row groups of one damaged file into <out>")
    .option("--json", "print JSON", false)
    .action(async (paths: string[], opts: { recover?: string; json: boolean }) => {
      const output = createOutput(opts.json);
      const instance = await DuckDBInstance.create(":memory:", ENGINE_OPEN_SETTINGS);
      const con = await instance.connect();
      try {
        if (opts.recover !== undefined) {
          if (paths.length !== 1) throw new SluiceError("USAGE", "--recover takes exactly one input file");
          const input = resolve(paths[0]!);
          if (!existsSync(input) || !statSync(input).isFile()) {
            throw new SluiceError("FILE_NOT_FOUND", `${paths[0]}: no such file`);
          }
          const out = resolve(opts.recover);
          if (existsSync(out)) throw new SluiceError("USAGE", `--recover ${opts.recover}: already exists`);
          const r = await recoverParquet(con, input, out);
          if (opts.json) {
            output.document({
              path: paths[0],
              out: r.outPath === null ? null : opts.recover,
              row_groups: r.rowGroups,
              row_groups_recovered: r.rowGroupsRecovered,
              rows_recovered: r.rowsRecovered,
              rows_lost: r.rowsLost,
              message: r.message,
            });
          } else output.line(r.message);
          if (r.outPath === null) process.exitCode = 1;
          return;
        }
        const files = expand(paths);
        const reports = await checkParquet(con, files);
        if (opts.json) {
          output.document({
            ok: reports.every((r) => r.ok),
            files: reports.map((r) => ({
              path: r.path,
              ok: r.ok,
              size: r.size,
              rows: r.rows,
              row_groups: r.rowGroups,
              columns: r.columns,
              bad_row_groups: r.badRowGroups,
              compression_ratio: r.compressionRatio,
              problems: r.problems,
              warnings: r.warnings,
            })),
          });
        } else {
          for (const r of reports) {
            const detail = r.ok
              ? `ok: ${r.rows} rows, ${r.rowGroups} row group${r.rowGroups === 1 ? "" : "s"}, ${r.columns.length} columns`
              : `DAMAGED: ${r.problems.join("; ")}`;
            output.line(`${r.path}: ${detail}`);
            for (const w of r.warnings) output.line(`  warning: ${w}`);
          }
          const bad = reports.filter((r) => !r.ok).length;
          output.line(`${reports.length} file${reports.length === 1 ? "" : "s"} checked, ${bad} damaged`);
        }
        if (reports.some((r) => !r.ok)) process.exitCode = 1;
      } finally {
        con.closeSync();
        instance.closeSync();
      }
    });
}

function expand(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (!existsSync(p)) throw new SluiceError("FILE_NOT_FOUND", `${p}: no such file or folder`);
    if (statSync(p).isDirectory()) {
      const found = readdirSync(p, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile() && e.name.endsWith(".parquet") && !e.parentPath.includes("_delta_log"))
        .map((e) => join(e.parentPath, e.name))
        .sort();
      if (found.length === 0) throw new SluiceError("FILE_NOT_FOUND", `${p}: no .parquet files in it`);
      out.push(...found);
    } else out.push(p);
  }
  return out;
}
