// Messy CSV: Sluice in auto-detect mode against published loaders *given* each file's dialect, on the
// polluted corpus of test/engine/messy-csv-corpus.ts, scored as the corpus test scores (header, whole
// records and cells against the clean table; `wrong`: loaded records that are no clean one). Loaders:
// DuckDB read_csv given delim/quote/escape/header/skip (and new_line, decimal_separator, dateformat
// where the file needs them), strict (its default) and with ignore_errors; csv-parse given delimiter,
// quote, escape, header, from_line and bom, strict and with skip_records_with_error. No timing: it
// prints a SCORE line per loader and a per-category table (bench/README.md keeps it).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { parse } from "csv-parse/sync";
import { build } from "esbuild";
import { stageFile } from "../dist/engine/stage-file.js";

const root = new URL("../", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "sluice-bench-messy-"));

/** The corpus module (TypeScript, shared with the test), bundled once into the scratch folder. */
async function loadCorpus() {
  const out = join(dir, "corpus.mjs");
  await build({
    entryPoints: [join(root, "test/engine/messy-csv-corpus.ts")],
    outfile: out,
    format: "esm",
    platform: "node",
    bundle: true,
    logLevel: "error",
  });
  return import(out);
}

/**
 * Each file's true dialect, as a user who knows the file would give it: the delimiter, quote and escape
 * the rows are written with, whether a header row exists and how many lines come before it. Files not
 * listed are plain `,` / `"` with a header on line 1.
 */
const DIALECTS = {
  preamble: { skip: 3 },
  "spreadsheet-title-row": { skip: 2 },
  headerless: { header: false },
  "single-quote": { quote: "'", escape: "'" },
  "delimiter-tab": { delim: "\t" },
  "delimiter-semicolon": { delim: ";" },
  "delimiter-pipe": { delim: "|" },
  "delimiter-comma-space": { delim: ", " },
  "delimiter-space": { delim: " " },
  "cr-line-ends": { newLine: "\\r" },
  "backslash-escape": { escape: "\\" },
  "european-semicolon-decimal-comma": { delim: ";", decimal: ",", dateformat: "%d.%m.%Y" },
};
const dialectOf = (name) => ({
  delim: ",",
  quote: '"',
  escape: '"',
  header: true,
  skip: 0,
  ...DIALECTS[name],
});

const text = (v) => (v === null || v === undefined ? "" : String(v));
const lit = (s) => `'${s.replaceAll("'", "''")}'`;

/** Sluice as a run stages a file: no options, everything detected. */
async function sluiceAuto(con, file, path, n) {
  const staged = await stageFile(con, {
    localPath: path,
    displayPath: `in/${file.name}.csv`,
    format: "csv",
    source: { path: "in/*.csv", on_malformed: "quarantine" },
    columns: {},
    naming: "keep",
    tablePrefix: `m${n}`,
    workDir: join(dir, "work"),
  });
  const names = staged.columns.map((c) => c.name);
  const reader = await con.runAndReadAll(
    `SELECT ${names.map((c) => `"${c.replaceAll('"', '""')}"`).join(", ")} FROM "${staged.table}" ORDER BY rowid`,
  );
  return { names, rows: reader.getRowsJson().map((r) => r.map(text)) };
}

/** DuckDB's read_csv told the dialect (its sniffer still infers the types, as a user would leave it). */
async function duckdbGiven(con, file, path, lenient) {
  const d = dialectOf(file.name);
  const options = [
    `delim = ${lit(d.delim)}`,
    `quote = ${lit(d.quote)}`,
    `escape = ${lit(d.escape)}`,
    `header = ${d.header}`,
    `skip = ${d.skip}`,
    d.newLine ? `new_line = ${lit(d.newLine)}` : "",
    d.decimal ? `decimal_separator = ${lit(d.decimal)}` : "",
    d.dateformat ? `dateformat = ${lit(d.dateformat)}` : "",
    lenient ? "ignore_errors = true" : "",
  ].filter(Boolean);
  const reader = await con.runAndReadAll(`SELECT * FROM read_csv(${lit(path)}, ${options.join(", ")})`);
  return { names: reader.columnNames(), rows: reader.getRowsJson().map((r) => r.map(text)) };
}

/** DuckDB's read_csv with nothing given (its own detection), for reference. */
async function duckdbAuto(con, _file, path, lenient) {
  const options = lenient ? ", ignore_errors = true" : "";
  const reader = await con.runAndReadAll(`SELECT * FROM read_csv(${lit(path)}${options})`);
  return { names: reader.columnNames(), rows: reader.getRowsJson().map((r) => r.map(text)) };
}

/** csv-parse told the dialect; values stay text (it converts nothing unless told how). */
function csvParseGiven(_con, file, path, lenient) {
  const d = dialectOf(file.name);
  const records = parse(readFileSync(path), {
    delimiter: d.delim,
    quote: d.quote,
    escape: d.escape,
    from_line: d.skip + 1,
    bom: true,
    skip_empty_lines: true,
    skip_records_with_error: lenient,
  });
  if (!d.header) return { names: file.header.map((_, i) => `column_${i + 1}`), rows: records };
  const [names = [], ...rows] = records;
  return { names, rows };
}

const LOADERS = [
  ["sluice auto", sluiceAuto],
  ["duckdb given dialect", (con, f, p) => duckdbGiven(con, f, p, false)],
  ["duckdb given dialect, ignore_errors", (con, f, p) => duckdbGiven(con, f, p, true)],
  ["csv-parse given dialect", (con, f, p) => csvParseGiven(con, f, p, false)],
  ["csv-parse given dialect, skip_records_with_error", (con, f, p) => csvParseGiven(con, f, p, true)],
  ["duckdb auto (reference)", (con, f, p) => duckdbAuto(con, f, p, false)],
  ["duckdb auto, ignore_errors (reference)", (con, f, p) => duckdbAuto(con, f, p, true)],
];

const { corpus, score } = await loadCorpus();
const files = corpus();
const instance = await DuckDBInstance.create(":memory:");
const con = await instance.connect();
mkdirSync(join(dir, "files"), { recursive: true });
/** loader -> category -> scores of its files; failures: loader -> files it could not read at all. */
const scores = new Map();
const failures = new Map();
let n = 0;
for (const file of files) {
  const path = join(dir, "files", `${file.name}.csv`);
  writeFileSync(path, file.text);
  for (const [loader, read] of LOADERS) {
    let result;
    try {
      result = await read(con, file, path, n++);
    } catch (error) {
      // A loader that refuses the file loads nothing of it: scored 0, the refusal named.
      result = { names: [], rows: [] };
      const why = String(error?.message ?? error)
        .split("\n")[0]
        .slice(0, 100);
      failures.set(loader, [...(failures.get(loader) ?? []), `${file.name}: ${why}`]);
    }
    const byCategory = scores.get(loader) ?? new Map();
    scores.set(loader, byCategory);
    const list = byCategory.get(file.category) ?? [];
    const scored = score(file, result.names, result.rows);
    list.push(scored);
    if (process.env.BENCH_VERBOSE && (scored.header < 1 || scored.records < 1 || scored.wrong > 0)) {
      console.log(`${loader} ${file.name}: ${JSON.stringify(scored)}`);
    }
    byCategory.set(file.category, list);
  }
}
con.closeSync();
instance.closeSync();
rmSync(dir, { recursive: true, force: true });

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const categories = [...new Set(files.map((f) => f.category))];
const f2 = (x) => x.toFixed(2);
console.log(`messy CSV corpus: ${files.length} files, ${categories.length} categories`);
console.log(
  "per category: header / records / cells (means over its files); (N wrong): N loaded records that are no clean one (a footer, a shifted or misread row)\n",
);
console.log(
  `| loader | ${categories.map((c) => `${c} (${files.filter((f) => f.category === c).length})`).join(" | ")} | all: header / records / cells | wrong | files refused |`,
);
console.log(`| --- | ${categories.map(() => "---").join(" | ")} | --- | --- | --- |`);
for (const [loader] of LOADERS) {
  const byCategory = scores.get(loader);
  const cells = categories.map((c) => {
    const list = byCategory.get(c);
    const wrong = list.reduce((sum, s) => sum + s.wrong, 0);
    const scored = `${f2(mean(list.map((s) => s.header)))} / ${f2(mean(list.map((s) => s.records)))} / ${f2(mean(list.map((s) => s.cells)))}`;
    return wrong > 0 ? `${scored} (${wrong} wrong)` : scored;
  });
  const all = [...byCategory.values()].flat();
  const total = `${f2(mean(all.map((s) => s.header)))} / ${f2(mean(all.map((s) => s.records)))} / ${f2(mean(all.map((s) => s.cells)))}`;
  const wrong = all.reduce((a, s) => a + s.wrong, 0);
  console.log(
    `| ${loader} | ${cells.join(" | ")} | ${total} | ${wrong} | ${failures.get(loader)?.length ?? 0} |`,
  );
}
console.log("");
for (const [loader] of LOADERS) {
  const all = [...scores.get(loader).values()].flat();
  console.log(
    `SCORE messy-csv ${loader}: header ${f2(mean(all.map((s) => s.header)))} records ${f2(mean(all.map((s) => s.records)))} cells ${f2(mean(all.map((s) => s.cells)))} wrong ${all.reduce((a, s) => a + s.wrong, 0)}`,
  );
}
if (process.env.BENCH_VERBOSE) {
  for (const [loader, list] of failures) console.log(`\n${loader} refused:\n  ${list.join("\n  ")}`);
}
