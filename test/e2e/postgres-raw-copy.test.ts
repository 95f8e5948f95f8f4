import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeProject, type RunJson, sluice } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres, queryDatabase } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";
import { runLog } from "../support/run-log.js";

// A single-pass append of one plain CSV file into a new PostgreSQL table streams the file's bytes into
// COPY as they are (PostgreSQL parses them), while DuckDB reads the file beside it for the profile. The
// rows are kept only where both readers read the file alike; otherwise the same transaction copies
// DuckDB's export of them, as before. Each case below runs once that way and once with SLUICE_RAW_COPY=0
// (always the export): tables, numbers, quarantine and profile must be the same.

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

type FullRun = RunJson["runs"][number] & {
  pipeline: string;
  profile?: { rows: number; columns: Record<string, unknown> };
  load?: { inserted: number };
};

const header = "id,name,amount,day,at,flag,note";
/** Rows whose values are read alike by both readers, quoting included. */
const plainRows = [
  '1,"Smith, John",12.5,2024-01-02,2024-01-02 03:04:05,true,plain',
  '2,"say ""hi""",-0.25,2024-02-29,2024-02-29T23:59:59.123456,false,""',
  '3,"two\nlines",1e5,2023-12-31,2023-12-31 00:00:00,true,',
  "4,  spaced  ,0,2022-06-01,2022-06-01 12:00:00.5,false,é ü 漢字",
  '5,"",+7.75,2021-01-01,2021-01-01 01:01:01,true,"a,b,c"',
  "6,NULL,3,2020-05-05,2020-05-05 05:05:05,false,\\N",
];
const filler = (from: number, to: number) =>
  Array.from(
    { length: to - from + 1 },
    (_, i) =>
      `${from + i},name${from + i},${(from + i) / 4},2024-03-${String(1 + ((from + i) % 28)).padStart(2, "0")},2024-03-01 00:00:${String((from + i) % 60).padStart(2, "0")},${(from + i) % 2 === 0},n${from + i}`,
  );
const file = (...rows: string[]) => [header, ...rows, ""].join("\n");

/** One pipeline per case: its file, and why the raw copy gives way (undefined: it is kept). */
const cases: Record<string, { content: string | Buffer; gives?: RegExp | "not taken"; order?: string }> = {
  plain: { content: file(...plainRows, ...filler(7, 60)) },
  crlf: { content: file(...filler(1, 40)).replaceAll("\n", "\r\n") },
  // PostgreSQL would read `ab"c"d` as abcd, DuckDB keeps the quotes.
  midquote: {
    content: file(...filler(1, 30), '31,ab"c"d,1,2024-01-01,2024-01-01 00:00:00,true,x'),
    gives: /quote/,
  },
  // DuckDB drops the spaces around a quoted value, PostgreSQL keeps them.
  spacedquote: {
    content: file(...filler(1, 30), '31, "ab" ,1,2024-01-01,2024-01-01 00:00:00,true,x'),
    gives: /quote/,
  },
  // DuckDB truncates to microseconds, PostgreSQL rounds.
  nanos: {
    content: file(...filler(1, 30), "31,x,1,2024-01-01,2024-01-01 00:00:00.1234567,true,x"),
    gives: /decimals/,
  },
  // PostgreSQL reads the year 1 as 2001.
  // PostgreSQL reads the year 1 as 2001 (past the rows DuckDB's sniffer samples, so the column is a date).
  year1: {
    content: file(...filler(1, 25_000), "25001,x,1,1-01-01,2024-01-01 00:00:00,true,x"),
    gives: /year 1000/,
  },
  // A row DuckDB rejects (an extra field): quarantined with its line.
  extrafield: {
    content: file(...filler(1, 30), "31,x,1,2024-01-01,2024-01-01 00:00:00,true,x,extra", ...filler(32, 40)),
    gives: /refused|malformed/,
  },
  // `on` among booleans: DuckDB's sniffer, which samples the whole file, reads the column as text, and
  // both read the text alike.
  onflag: { content: file(...filler(1, 30), "31,x,1,2024-01-01,2024-01-01 00:00:00,on,x") },
  // `1e3` among integers: the sniffer reads the column as doubles, which both read alike.
  expint: { content: file(...filler(1, 30), "1e3,x,1,2024-01-01,2024-01-01 00:00:00,true,x") },
  // A blank line: DuckDB skips it, PostgreSQL refuses it.
  blank: { content: file(...filler(1, 20), "", ...filler(21, 30)), gives: /refused/ },
  // PostgreSQL's text holds no NUL byte: the rows holding one are quarantined.
  nul: {
    content: file(...filler(1, 30), "31,a\u0000b,1,2024-01-01,2024-01-01 00:00:00,true,x"),
    gives: /refused/,
  },
  // Review cases: each must store what the usual path stores, whichever way it goes.
  bomheader: { content: `\uFEFF${file(...filler(1, 30))}` },
  // DuckDB drops the byte-order mark, PostgreSQL would keep it in the first value.
  bomnoheader: {
    gives: /byte-order mark/,
    content: `\uFEFF${["a1,1,2024-01-01", "b2,2,2024-01-02", ...Array.from({ length: 30 }, (_, i) => `c${i},${i},2024-02-01`)].join("\n")}\n`,
    order: "1",
  },
  lonecr: { content: file(...filler(1, 40)).replaceAll("\n", "\r") },
  nonewline: { content: file(...filler(1, 30)).slice(0, -1) },
  trailingdelim: { content: `${file(...filler(1, 30)).replaceAll("\n", ",\n")}` },
  spaced: {
    content: file(...filler(1, 30), " 31 , x ,  2.5 , 2024-01-01 , 2024-01-01 00:00:00 ,true, y "),
  },
  doubles: {
    content: file(
      ...["+5", "1.", ".5", "1e5", "-0", "NaN", "Infinity", "inf", "-inf", "05", "-NaN", "4.9e-324"].map(
        (v, i) => `${i + 1},x,${v},2024-01-01,2024-01-01 00:00:00,true,x`,
      ),
    ),
  },
  booleans: {
    content: file(
      ...["t", "f", "1", "0", "yes", "no", "TRUE", "False", "y", "N", "T"].map(
        (v, i) => `${i + 1},x,1,2024-01-01,2024-01-01 00:00:00,${v},x`,
      ),
    ),
  },
  // Read by the sniffer with a timestamp format of its own (not ISO 8601): not copied as is.
  timestamps: {
    gives: "not taken",
    content: file(
      ...[
        "2024-01-01T01:02:03",
        "2024-01-01 00:00:00.1",
        "2024-01-01 00:00:00.12",
        "2024-01-01 00:00:00.123",
        "2024-01-01 00:00:00.1234",
        "2024-01-01 00:00:00.12345",
        "2024-01-01 00:00:00.123456",
        "2024-01-01 24:00:00",
        "infinity",
        "epoch",
        "2024-01-01",
        "2024-01-01 1:2:3",
      ].map((v, i) => `${i + 1},x,1,2024-01-01,${v},true,x`),
    ),
  },
  // Offsets make DuckDB's sniffer read timestamps with time zone: not copied as is.
  offsets: {
    gives: "not taken",
    content: file(
      ...["2024-01-01 00:00:00+02", "2024-01-01 00:00:00Z", "2024-01-01 00:00:00 UTC"].map(
        (v, i) => `${i + 1},x,1,2024-01-01,${v},true,x`,
      ),
    ),
  },
  // DuckDB's timestamp reading (no format sniffed) takes `(BC)`, PostgreSQL's too; five-digit years.
  bcstamp: { content: file(...filler(1, 30), "31,x,1,2024-01-01,2024-01-01 (BC),true,x") },
  longyear: { content: file(...filler(1, 30), "31,x,1,2024-01-01,12345-01-01 00:00:00,true,x") },
  mixedeol: {
    content: file(...filler(1, 20))
      .replaceAll("\n", "\r\n")
      .replace("\r\n5,", "\n5,"),
  },
  // A lone CR in an unquoted value: a line end to DuckDB, refused by PostgreSQL.
  lonecrvalue: {
    gives: /refused/,
    content: file(...filler(1, 20), "21,a\rb,1,2024-01-01,2024-01-01 00:00:00,true,x"),
  },
  tabs: {
    content: `${file(...filler(1, 20)).replaceAll(",", "\t")}21\t a b \t1\t2024-01-01\t2024-01-01 00:00:00\ttrue\tc,d\n`,
  },
  semicolons: {
    content: `${file(...filler(1, 20)).replaceAll(",", ";")}21;x;1,5;2024-01-01;2024-01-01 00:00:00;true;x\n`,
  },
  quotedtyped: {
    content: file(
      ...filler(1, 20),
      '21,x," 5 ","2024-01-01","2024-01-01 00:00:00","true","  "',
      '22,x,"",,"","",""',
    ),
  },
  bignumbers: {
    content: file(
      ...filler(1, 20),
      "9223372036854775808,x,0.30000000000000004,2024-01-01,2024-01-01 00:00:00,true,x",
      "-9223372036854775809,x,1.7976931348623157e308,2024-01-01,2024-01-01 00:00:00,true,x",
    ),
  },
  leapsecond: { content: file(...filler(1, 30), "31,x,1,2024-01-01,2024-12-31 23:59:60,true,x") },
  dates: {
    content: file(
      ...[
        "2024/01/02",
        "2024 01 02",
        "2024-1-2",
        "2024-01-01 12:00:00",
        "infinity",
        "epoch",
        "12345-01-01",
      ].map((v, i) => `${i + 1},x,1,${v},2024-01-01 00:00:00,true,x`),
    ),
  },
  earlydate: {
    gives: /year 1000/,
    content: file(...filler(1, 30), "31,x,1,0099-01-01,2024-01-01 00:00:00,true,x"),
  },
  // DuckDB reads `2024-01-01 BC` as the year 2024 AD, PostgreSQL as 2024 BC.
  // Past the sniffer's sample, so the column is a date: DuckDB rejects the row in the profile's read.
  bcdate: {
    gives: /rows/,
    content: file(...filler(1, 25_000), "25001,x,1,2024-01-01 BC,2024-01-01 00:00:00,true,x"),
  },
  dupheader: {
    content: [
      "Id,id,Name X,name x,",
      ...Array.from({ length: 30 }, (_, i) => `${i},${i + 1},n${i},m${i},z`),
    ].join("\n"),
    order: "1",
  },
  quotedcrlf: {
    content: file(...filler(1, 20), '21,"a\r\nb",1,2024-01-01,2024-01-01 00:00:00,true,"x\ny"').replaceAll(
      /(?<!\r)\n/g,
      "\r\n",
    ),
  },
  backslash: { content: file(...filler(1, 20), '21,a\\,1,2024-01-01,2024-01-01 00:00:00,true,"b\\""c"') },
  badutf8: {
    gives: /refused/,
    content: Buffer.concat([
      Buffer.from(file(...filler(1, 20))),
      Buffer.from("21,a"),
      Buffer.from([0xff, 0xfe]),
      Buffer.from("b,1,2024-01-01,2024-01-01 00:00:00,true,x\n"),
    ]),
  },
  // PostgreSQL stops at `\.` alone on a line.
  endmarker: {
    gives: /rows/,
    content: `${["v", ...Array.from({ length: 30 }, (_, i) => `w${i}`), "\\.", "after"].join("\n")}\n`,
    order: "1",
  },
  bomheaderonly: { content: `\uFEFF${header}` },
  headeronly: { content: `${header}\n` },
  // A long quoted value with doubled quotes across the 1 MB chunks the file is read in.
  longline: {
    content: file(...filler(1, 5), `6,"${'ab""c,'.repeat(200_000)}",1,2024-01-01,2024-01-01 00:00:00,true,x`),
  },
  emptystrings: {
    content: file(
      ...filler(1, 10),
      '11,"",1,2024-01-01,2024-01-01 00:00:00,true,',
      '12, ,1,2024-01-01,2024-01-01 00:00:00,true,""',
    ),
  },
};

describe.skipIf(!available)("PostgreSQL append copying a CSV file as it is", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const onDb = async (sql: string) => (await queryDatabase(db.url, sql)).rows;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.cleanup();
  });

  /** Runs every case as a pipeline `<prefix>_<case>` into a table of that name; returns the runs by case. */
  const runAll = async (prefix: string, env: NodeJS.ProcessEnv) => {
    const names = Object.keys(cases);
    const pipelines = names
      .map(
        (n) =>
          `  ${prefix}_${n}:\n    source: { path: "${n}/*.csv" }\n    max_failure_rate: 0.5\n    target: { table: ${prefix}_${n}, mode: append }\n`,
      )
      .join("");
    const dir = makeProject(
      `warehouse: "${db.url}"\npipelines:\n${pipelines}`,
      Object.fromEntries(names.map((n) => [`landing/${n}/data.csv`, cases[n]!.content])),
    );
    const r = await sluice(["run", "--json"], dir, { env, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const runs = r.json<{ runs: FullRun[] }>().runs;
    return { dir, runs: new Map(runs.map((run) => [run.pipeline.slice(prefix.length + 1), run])) };
  };
  const tableOf = (table: string, order = "id, name") =>
    onDb(
      `SELECT to_jsonb(t) - '_sluice_run_id' - '_sluice_loaded_at' - '_sluice_source_file' AS row FROM ${table} t ORDER BY ${order}`,
    );
  const quarantineOf = (pipeline: string) =>
    onDb(
      `SELECT file, line::int AS line, rules, reasons FROM sluice.quarantine WHERE pipeline = '${pipeline}' ORDER BY line`,
    );

  it("stores the same rows, numbers, quarantine and profile as DuckDB's export, and copies as is only what both read alike", async () => {
    const raw = await runAll("raw", {});
    const usual = await runAll("usual", { SLUICE_RAW_COPY: "0" });
    for (const [name, { gives, order }] of Object.entries(cases)) {
      const a = raw.runs.get(name)!;
      const b = usual.runs.get(name)!;
      expect(a.status, name).toBe(b.status);
      expect(a.rows, name).toEqual(b.rows);
      expect(a.profile?.columns, name).toEqual(b.profile?.columns);
      expect(a.profile?.rows, name).toBe(b.profile?.rows);
      expect(await tableOf(`raw_${name}`, order), name).toEqual(await tableOf(`usual_${name}`, order));
      expect(await quarantineOf(`raw_${name}`), name).toEqual(await quarantineOf(`usual_${name}`));
      const said = runLog(raw.dir, a.run_id);
      const kept = said.find((l) => l.msg === "copied the file as it is");
      const gaveWay = said.find((l) => l.msg === "the file is copied the usual way");
      console.log(
        "CASE",
        name,
        a.status,
        b.status,
        JSON.stringify(a.rows),
        kept ? "KEPT" : `GAVE WAY ${gaveWay?.reason}`,
      );
      if (gives === "not taken") {
        expect(kept ?? gaveWay, name).toBeUndefined();
      } else if (gives === undefined) {
        expect(kept, `${name}: ${JSON.stringify(gaveWay)}`).toBeDefined();
        expect(kept?.rows, name).toBe(a.load?.inserted);
      } else {
        expect(kept, name).toBeUndefined();
        expect(String(gaveWay?.reason), name).toMatch(gives);
      }
      // The usual way never copies as is.
      expect
        .soft(
          runLog(usual.dir, b.run_id).map((l) => l.msg),
          name,
        )
        .not.toContain("copied the file as it is");
    }
    // What the tricky values became, as DuckDB reads them: quoted empty values are NULL, the rest as written.
    expect(
      (await tableOf("raw_plain")).slice(0, 6).map((r) => (r.row as Record<string, unknown>).name),
    ).toEqual(["Smith, John", 'say "hi"', "two\nlines", "  spaced  ", null, "NULL"]);
    expect(raw.runs.get("extrafield")!.rows).toMatchObject({ loaded: 39, malformed: 1 });
    expect(await quarantineOf("raw_extrafield")).toMatchObject([{ file: "extrafield/data.csv", line: 32 }]);
    expect(raw.runs.get("nul")!.rows).toMatchObject({ loaded: 30, quarantined: 1 });
    // The defaults the copy used for the lineage columns are gone again.
    expect(
      await onDb(
        "SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'raw_plain' AND column_default IS NOT NULL",
      ),
    ).toEqual([{ n: 0 }]);
    expect(
      await onDb(
        "SELECT count(DISTINCT _sluice_run_id)::int AS runs, min(_sluice_source_file) AS f FROM raw_plain",
      ),
    ).toEqual([{ runs: 1, f: "plain/data.csv" }]);
  }, 240_000);
});
