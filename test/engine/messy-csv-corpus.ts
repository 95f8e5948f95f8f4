/**
 * A corpus of polluted CSV files generated from one clean table: each file carries one pollution (a
 * header, a row at the start, in the middle or at the end, a dialect, a locale), with the clean table it
 * should load as. Scored like the published CSV-loading benchmarks: header, records and cells.
 */

export const COLUMNS = ["id", "name", "amount", "day"] as const;

/** The clean table, as text values (the form a load is compared in). */
export function cleanTable(rows = 40): string[][] {
  return Array.from({ length: rows }, (_, i) => [
    String(i + 1),
    i % 7 === 3 ? `Smith, J${i}` : `name ${i + 1}`,
    String(i * 7.25 + (i % 3 === 0 ? 1000 : 0)),
    `2025-${String((i % 12) + 1).padStart(2, "0")}-${String((i % 28) + 1).padStart(2, "0")}`,
  ]);
}

/** One generated file: its bytes, the table it should load as, and what a load must show. */
export interface CorpusFile {
  readonly name: string;
  readonly category: string;
  readonly text: string;
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
  /** Records a careful load quarantines (the polluted ones), not loads. */
  readonly quarantined: number;
}

interface Writer {
  delimiter?: string;
  quote?: string;
  newLine?: string;
  /** Escapes a quote inside a quoted value (default: doubled). */
  escape?: string;
  decimalComma?: boolean;
  dayFormat?: (iso: string) => string;
}

function field(value: string, w: Writer): string {
  const d = (w.delimiter ?? ",").trim() || w.delimiter || ",";
  const q = w.quote ?? '"';
  if (value.includes(d) || value.includes(q) || /[\r\n]/.test(value)) {
    const inner = value.replaceAll(q, `${w.escape ?? q}${q}`);
    return `${q}${inner}${q}`;
  }
  return value;
}

function line(values: readonly string[], w: Writer): string {
  return values.map((v) => field(v, w)).join(w.delimiter ?? ",");
}

function rowValues(row: readonly string[], w: Writer): string[] {
  const [id, name, amount, day] = row as [string, string, string, string];
  const money = w.decimalComma
    ? Number(amount).toLocaleString("de-DE", { minimumFractionDigits: 2, maximumFractionDigits: 2 })
    : amount;
  return [id, name, money, w.dayFormat ? w.dayFormat(day) : day];
}

function write(header: string | undefined, rows: readonly (readonly string[])[], w: Writer = {}): string {
  const nl = w.newLine ?? "\n";
  const lines = rows.map((r) => line(rowValues(r, w), w));
  return [...(header === undefined ? [] : [header]), ...lines].join(nl) + nl;
}

const POSITIONS = { row0: 0, middle: 20, end: 39 } as const;

/** Every file of the corpus. */
export function corpus(): CorpusFile[] {
  const rows = cleanTable();
  const header = line([...COLUMNS], {});
  const files: CorpusFile[] = [];
  const clean = (name: string, category: string, text: string, extra: Partial<CorpusFile> = {}) =>
    files.push({ name, category, text, header: COLUMNS, rows, quarantined: 0, ...extra });

  clean("clean", "clean", write(header, rows));
  // Header pollutions: the rows are clean, the header row is not.
  clean("header-extra-delimiter", "header", write("id,name,,amount,day", rows));
  clean("header-missing-delimiter", "header", write("id,name amount,day", rows));
  clean("header-stray-quote", "header", write('id,"name,amount,day', rows));
  clean("header-other-delimiter", "header", write("id name amount day", rows));
  clean("header-other-delimiter-semicolon", "header", write("id;name;amount;day", rows));
  // Row pollutions at row 0, in the middle and at the end: the row is quarantined, never loaded shifted.
  for (const [where, at] of Object.entries(POSITIONS)) {
    const polluted = (mutate: (l: string) => string) =>
      write(header, []) +
      rows.map((r, i) => (i === at ? mutate(line(r, {})) : line(r, {}))).join("\n") +
      "\n";
    const without = rows.filter((_, i) => i !== at);
    clean(
      `row-leading-separator-${where}`,
      "row shape",
      polluted((l) => `,${l}`),
      {
        rows: without,
        quarantined: 1,
      },
    );
    clean(
      `row-extra-field-${where}`,
      "row shape",
      polluted((l) => `${l},extra`),
      {
        rows: without,
        quarantined: 1,
      },
    );
    clean(
      `row-missing-field-${where}`,
      "row shape",
      polluted((l) => l.slice(0, l.lastIndexOf(","))),
      {
        rows: without,
        quarantined: 1,
      },
    );
  }
  // Shapes real files come in.
  clean("preamble", "shape", `Export of orders\nGenerated 2025-06-01 by ERP\n\n${write(header, rows)}`);
  clean("spreadsheet-title-row", "shape", `Orders report,,,\n,,,\n${write(header, rows)}`);
  clean("headerless", "shape", write(undefined, rows), {
    header: ["column_1", "column_2", "column_3", "column_4"],
  });
  clean("footer-total", "shape", `${write(header, rows)}Total: 40 rows\n`, { quarantined: 1 });
  // Footers as wide as the rows: total/summary lines at the end are quarantined, never loaded as rows.
  const sum = rows.reduce((n, r) => n + Number(r[2]), 0);
  clean("footer-same-width", "footer", `${write(header, rows)}Total,,${sum},\n`, { quarantined: 1 });
  clean("footer-two-lines", "footer", `${write(header, rows)}Total,,${sum},\nAverage,,${sum / 40},\n`, {
    quarantined: 2,
  });
  clean("footer-after-blank", "footer", `${write(header, rows)}\n"Grand total",,${sum},\n\n`, {
    quarantined: 1,
  });
  clean("footer-trailing-delimiter", "footer", `${write(header, rows)}Total,,${sum},,\n`, { quarantined: 1 });
  clean(
    "footer-crlf",
    "footer",
    write(header, rows, { newLine: "\r\n" }) + `Summe;;${sum};\r\n`.replaceAll(";", ","),
    {
      quarantined: 1,
    },
  );
  // Several tables in one file: the first loads; the others' lines are quarantined from where they start.
  clean(
    "second-table-titled",
    "multi table",
    `${write(header, rows)}\nReturns\nid,reason\n1,broken\n2,late\n`,
    { quarantined: 4 },
  );
  clean(
    "second-table-same-header",
    "multi table",
    `${write(header, rows)}\n${header}\n100,other,1.5,2025-01-01\n101,other,2.5,2025-01-02\n`,
    { quarantined: 3 },
  );
  clean(
    "second-table-headerless",
    "multi table",
    `${write(header, rows)}\n\nx;1\ny;2\nz;3\n`.replaceAll(";", "|"),
    { quarantined: 3 },
  );
  clean(
    "second-table-after-total",
    "multi table",
    `${write(header, rows)}Total,,${sum},\n\nReturns\nid,reason\n1,x\n`,
    {
      quarantined: 4,
    },
  );
  // A second table the 64 KB sample does not show: after no blank line, or past the sample.
  clean("second-table-no-blank-line", "multi table", `${write(header, rows)}id,reason\n1,broken\n2,late\n`, {
    quarantined: 3,
  });
  const long = cleanTable(2500);
  clean("second-table-past-sample", "multi table", `${write(header, long)}\nReturns\nid,reason\n1,broken\n`, {
    rows: long,
    quarantined: 3,
  });
  // Dialects.
  clean("single-quote", "dialect", write(line([...COLUMNS], { quote: "'" }), rows, { quote: "'" }));
  for (const [name, delimiter] of [
    ["tab", "\t"],
    ["semicolon", ";"],
    ["pipe", "|"],
    ["comma-space", ", "],
  ] as const) {
    clean(`delimiter-${name}`, "dialect", write(line([...COLUMNS], { delimiter }), rows, { delimiter }));
  }
  const spaced = rows.map((r) => [r[0]!, r[1]!.replaceAll(/[ ,]+/g, "_"), r[2]!, r[3]!]);
  clean("delimiter-space", "dialect", write("id name amount day", spaced, { delimiter: " " }), {
    rows: spaced,
  });
  clean("cr-line-ends", "dialect", write(header, rows, { newLine: "\r" }));
  const quoted = rows.map((r, i) => (i % 5 === 1 ? [r[0]!, `say "hi" ${i}`, r[2]!, r[3]!] : r));
  clean("backslash-escape", "dialect", write(header, quoted, { escape: "\\" }), { rows: quoted });
  // Real exports.
  clean("utf8-bom", "export", `\ufeff${write(header, rows)}`);
  const german = (iso: string) => iso.split("-").reverse().join(".");
  clean(
    "european-semicolon-decimal-comma",
    "export",
    write(line([...COLUMNS], { delimiter: ";" }), rows, {
      delimiter: ";",
      decimalComma: true,
      dayFormat: german,
      newLine: "\r\n",
    }),
  );
  const multiline = rows.map((r, i) => (i === 5 ? [r[0]!, "two\r\nlines", r[2]!, r[3]!] : r));
  clean("crlf-inside-quotes", "export", write(header, multiline), { rows: multiline });
  return files;
}

/** Header, records and cells of a load against the clean table (each 0..1), and loaded records not in it. */
export interface Score {
  readonly header: number;
  readonly records: number;
  readonly cells: number;
  /** Loaded records that are no clean record (a shifted or misread row): must be 0. */
  readonly wrong: number;
}

/** Scores loaded names and rows (values as text) against the expected ones. */
export function score(
  expected: CorpusFile,
  names: readonly string[],
  loaded: readonly (readonly string[])[],
): Score {
  const header = expected.header.filter((n, i) => names[i] === n).length / expected.header.length;
  const key = (r: readonly string[]) => JSON.stringify(r);
  const want = new Set(expected.rows.map(key));
  const got = new Set(loaded.map(key));
  const records = [...want].filter((k) => got.has(k)).length / want.size;
  const byId = new Map(loaded.map((r) => [r[0], r]));
  let cells = 0;
  for (const row of expected.rows) {
    const found = byId.get(row[0]!);
    if (found) cells += row.filter((v, i) => found[i] === v).length;
  }
  return {
    header,
    records,
    cells: cells / (expected.rows.length * expected.header.length),
    wrong: loaded.filter((r) => !want.has(key(r))).length,
  };
}
