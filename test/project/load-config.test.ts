import { describe, expect, it } from "vitest";
import { SluiceError } from "../../src/errors.js";
import { parseProjectText } from "../../src/project/load-config.js";

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseProjectText(text, "sluice.yaml", env);
  } catch (error) {
    expect(error).toBeInstanceOf(SluiceError);
    const e = error as SluiceError;
    expect(e.code).toBe("CONFIG_INVALID");
    expect(e.exitCode).toBe(2);
    return [e.message, ...e.details];
  }
  return [];
}

/** `${NAME}` as written in sluice.yaml. */
const ref = (name: string): string => ["$", "{", name, "}"].join("");

const minimal = `
pipelines:
  orders:
    source: { path: "in/orders/*.csv" }
    target: { table: orders }
`;

describe("parseProjectText", () => {
  it("applies defaults to a minimal project", () => {
    const config = parseProjectText(minimal, "sluice.yaml", {});
    expect(config.warehouse).toBe("duckdb:warehouse.duckdb");
    expect(config.landing).toBe("landing");
    const orders = config.pipelines.orders!;
    expect(orders.target.mode).toBe("append");
    expect(orders.max_failure_rate).toBe(0.05);
    expect("path" in orders.source && orders.source.on_malformed).toBe("quarantine");
  });

  it("names the key and the allowed values for a bad enum", () => {
    const text = minimal.replace(`{ path: "in/orders/*.csv" }`, `{ path: "in/*.csv", format: xml }`);
    expect(problems(text)).toContain(
      "sluice.yaml: pipelines.orders.source.format: expected one of csv, jsonl, json, parquet, avro",
    );
  });

  it("reports unknown keys and every problem at once", () => {
    const text = `
warehouse: mysql://x
pipelines:
  orders:
    source: { path: "in/*.csv" }
    target: { table: orders, mode: upsert }
    colums: {}
`;
    const all = problems(text);
    expect(all).toContain("sluice.yaml: pipelines.orders: unknown key colums; did you mean `columns`?");
    expect(all).toContain(
      "sluice.yaml: pipelines.orders.target.mode: expected one of append, replace, merge, delete_insert, scd2, cdc",
    );
    expect(all.some((l) => l.startsWith("sluice.yaml: warehouse: expected duckdb:<file>"))).toBe(true);
  });

  // biome-ignore lint/suspicious/noTemplateCurlyInString: ${ENV} is the sluice.yaml syntax under test
  it("interpolates ${ENV} and reports unset variables", () => {
    const text = `warehouse: "postgres://u:\${PGPASSWORD}@localhost/db"\n${minimal}`;
    const config = parseProjectText(text, "sluice.yaml", { PGPASSWORD: "p@ss" });
    expect(config.warehouse).toBe("postgres://u:p@ss@localhost/db");
    expect(problems(text, {})).toContain(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the message quotes the sluice.yaml syntax
      "sluice.yaml: line 1: environment variable ${PGPASSWORD} is not set",
    );
    expect(parseProjectText(`landing: "\${LANDING:-drop}"\n${minimal}`, "x", {}).landing).toBe("drop");
  });

  it("puts environment values into the parsed strings: digits stay text, # and : stay in the value", () => {
    const secret = parseProjectText(`s3: { secret_access_key: ${ref("S3_SECRET")} }\n${minimal}`, "x", {
      S3_SECRET: "987654321012",
    });
    expect(secret.s3?.secret_access_key).toBe("987654321012");
    const url = parseProjectText(`warehouse: postgres://u:${ref("PGPASSWORD")}@db/w\n${minimal}`, "x", {
      PGPASSWORD: "a #b: 'c\n{d}",
    });
    expect(url.warehouse).toBe("postgres://u:a #b: 'c\n{d}@db/w");
    const quoted = parseProjectText(`landing: "in ${ref("DIR")}"\n${minimal}`, "x", { DIR: '"x"' });
    expect(quoted.landing).toBe('in "x"');
    expect(parseProjectText(`landing: $${ref("DIR")}\n${minimal}`, "x", { DIR: "no" }).landing).toBe(
      ref("DIR"),
    );
  });

  it("reads an interpolated value as a number or true/false where the schema wants one", () => {
    const rate = minimal.replace("target:", `max_failure_rate: ${ref("RATE")}\n    target:`);
    const config = parseProjectText(`s3: { force_path_style: ${ref("FPS")} }\n${rate}`, "x", {
      FPS: "true",
      RATE: "0.25",
    });
    expect(config.s3?.force_path_style).toBe(true);
    expect(config.pipelines.orders!.max_failure_rate).toBe(0.25);
  });

  it("ignores environment references in YAML comments", () => {
    const text = `# set ${ref("PGPASSWORD")} for postgres\nwarehouse: duckdb:w.duckdb   # or postgres://user:${ref("PGPASSWORD")}@host:5432/db\n${minimal}`;
    expect(parseProjectText(text, "x", {}).warehouse).toBe("duckdb:w.duckdb");
  });

  it("never prints an interpolated value in an error", () => {
    const rate = problems(minimal.replace("target:", `max_failure_rate: ${ref("RATE")}\n    target:`), {
      RATE: "hunter2-secret",
    });
    expect(rate).toEqual([
      `sluice.yaml: pipelines.orders.max_failure_rate: expected number, got the value of ${ref("RATE")}`,
    ]);
    const port = problems(`warehouse: postgres://u:${ref("PW")}@db:${ref("PORT")}/w\n${minimal}`, {
      PW: "pw-secret",
      PORT: "port-secret",
    });
    expect(port.join("\n")).toContain(ref("PORT"));
    expect(port.join("\n")).not.toMatch(/secret/);
    // A YAML error quotes the reference as written, not its value.
    const yaml = problems(`landing: [${ref("DIR")}\n${minimal}`, { DIR: "dir-secret" });
    expect(yaml.length).toBeGreaterThan(0);
    expect(yaml.join("\n")).not.toContain("dir-secret");
  });

  it("rejects malformed YAML with a line number", () => {
    const all = problems("pipelines:\n  orders: [\n");
    expect(all[0]).toMatch(/^sluice\.yaml: line \d+:\d+: /);
  });

  it("rejects an empty file and a project without pipelines", () => {
    expect(problems("")[0]).toBe("sluice.yaml: pipelines: is required");
    expect(problems("pipelines: {}")[0]).toBe("sluice.yaml: pipelines: define at least one pipeline");
  });

  it("names a value of the wrong type as such, and a missing one as missing", () => {
    const text = minimal.replace(
      "target:",
      `max_failure_rate: "x"\n    checks:\n      - { rule: expression, sql: 5 }\n      - { rule: expression, sql: "a > 0", message: 5 }\n      - { rule: expression }\n    target:`,
    );
    const all = problems(text);
    expect(all).toContain('sluice.yaml: pipelines.orders.max_failure_rate: expected number, got string "x"');
    expect(all).toContain("sluice.yaml: pipelines.orders.checks[0].sql: expected string, got number 5");
    expect(all).toContain("sluice.yaml: pipelines.orders.checks[1].message: expected string, got number 5");
    expect(all).toContain("sluice.yaml: pipelines.orders.checks[2].sql: is required");
  });

  it("reads a bare null as the word where sluice.yaml means it: the CSV null option and mask: null", () => {
    const text = `
pipelines:
  orders:
    source: { path: "in/*.csv", options: { null: ["", "NA"] } }
    columns: { ssn: { mask: null }, note: { mask: NULL } }
    target: { table: orders }
`;
    const config = parseProjectText(text, "sluice.yaml", {});
    const orders = config.pipelines.orders!;
    expect("path" in orders.source && orders.source.options?.null).toEqual(["", "NA"]);
    expect(orders.columns.ssn?.mask).toBe("null");
    expect(orders.columns.note?.mask).toBe("null");
    // Elsewhere null is still no value: a required key given as null is reported.
    expect(problems(minimal.replace("table: orders", "table: null"))[0]).toMatch(/target\.table: /);
  });

  it("refuses a target table in the sluice schema, which holds the catalog", () => {
    for (const table of ["sluice.files", "SLUICE.runs", '"sluice".loads']) {
      const all = problems(minimal.replace("table: orders", `table: '${table}'`));
      expect(all, table).toEqual([
        "sluice.yaml: pipelines.orders.target.table: the sluice schema holds Sluice's catalog (runs, ledger, quarantine); choose another schema",
      ]);
    }
    expect(problems(minimal.replace("table: orders", "table: sluice_files"))).toEqual([]);
    expect(problems(minimal.replace("table: orders", "table: analytics.sluice"))).toEqual([]);
  });

  it("rejects a target table name PostgreSQL would cut short, naming the key and the limit", () => {
    const long = "customer_orders_history_snapshot_daily_region_europe_one_and_more_x";
    const text = (warehouse: string, table: string) =>
      `warehouse: "${warehouse}"\n${minimal.replace("table: orders", `table: ${table}`)}`;
    const pg = "postgres://u@localhost/db";
    expect(problems(text(pg, long))).toEqual([
      `sluice.yaml: pipelines.orders.target.table: "${long}" is 67 bytes long; PostgreSQL names hold at most 63 bytes (a longer one is cut short, so two tables could become one): choose a shorter name`,
    ]);
    // Bytes, not characters; the schema part counts on its own.
    expect(problems(text(pg, "ä".repeat(32)))[0]).toMatch(/is 64 bytes long/);
    expect(problems(text(pg, `${"s".repeat(64)}.orders`))[0]).toMatch(/"s{64}" is 64 bytes long/);
    expect(problems(text(pg, `sales.${"t".repeat(63)}`))).toEqual([]);
    // DuckDB has no such limit.
    expect(problems(text("duckdb:warehouse.duckdb", long))).toEqual([]);
  });

  it("rejects a PostgreSQL URL that cannot be meant as written, naming the part and never the password", () => {
    const text = (url: string) => `warehouse: "${url}"\n${minimal}`;
    const cases: [string, string][] = [
      ["postgres://u:s3cret@127.0.0.1:54x2/db", 'port "54x2" is not a number from 1 to 65535'],
      ["postgres://u:s3cret@db:99999/db", 'port "99999" is not a number from 1 to 65535'],
      ["postgres://u:s3cret@db:/db", 'port "" is not a number'],
      ["postgres://u:s3cret@[::1:5432/db", 'host "[::1:5432" is missing the closing "]"'],
      ["postgres://u:s3cret@::1:5432/db", 'host "::1:5432" looks like an IPv6 address: write it in brackets'],
      ["postgres://u:s3cret@db/w?sslmode=bogus", 'sslmode "bogus" is not one of disable, allow, prefer'],
      ["postgres://u:s3cret@db/w?pool_max=abc", 'pool_max "abc" is not a whole number of at least 1'],
      ["postgres://u:s3cret@db/w?pool_max=0", 'pool_max "0" is not a whole number of at least 1'],
      ["postgres://u:s3cret@db/w?connect_timeout=soon", 'connect_timeout "soon" is not a whole number'],
      ["postgres://u:s3cret@db/w?sslmod=require", 'unknown option "sslmod"'],
    ];
    for (const [url, message] of cases) {
      const all = problems(text(url));
      expect(all).toHaveLength(1);
      expect(all[0]).toContain(`sluice.yaml: warehouse: ${message}`);
      expect(all[0]).not.toContain("s3cret");
    }
    for (const url of [
      "postgres://u:s3cret@127.0.0.1:5432/db?sslmode=verify-full&pool_max=8&connect_timeout=0",
      "postgresql://u:pa@ss:w/rd@[::1]:5433/db",
      "postgres://localhost/db?application_name=x&options=-c%20search_path%3Dx",
    ]) {
      expect(problems(text(url))).toEqual([]);
    }
  });

  it("suggests the nearest key, value, rule or mask for a misspelt one, and lists the keys when none is near", () => {
    const text = `
pipelines:
  orders:
    source: { path: "in/*.csv", formt: csv }
    columns: { email: { mask: emial, typ: varchar } }
    dedup: { keys: [id] }
    checks:
      - { rule: not_nul, columns: [id] }
      - { rule: range, colum: id, min: 1 }
    target: { table: orders, mod: merge, zzz: 1 }
`;
    const all = problems(text);
    expect(all).toEqual(
      expect.arrayContaining([
        "sluice.yaml: pipelines.orders.source: unknown key formt; did you mean `format`?",
        "sluice.yaml: pipelines.orders.columns.email.mask: expected one of hash, redact, email, last4, null, drop; did you mean `email`?",
        "sluice.yaml: pipelines.orders.columns.email: unknown key typ; did you mean `type`?",
        "sluice.yaml: pipelines.orders: unknown key dedup; did you mean `dedupe`?",
        "sluice.yaml: pipelines.orders.checks[1]: unknown key colum; did you mean `column`?",
        "sluice.yaml: pipelines.orders.target: unknown key mod; did you mean `mode`?",
        "sluice.yaml: pipelines.orders.target: unknown key zzz (keys here: table, mode, keys, partition_by, track, close_deleted, cdc, lake)",
      ]),
    );
    const rule = all.find((l) => l.includes("checks[0].rule"));
    expect(rule).toMatch(
      /^sluice\.yaml: pipelines\.orders\.checks\[0\]\.rule: expected one of not_null, unique, .*; did you mean `not_null`\?$/,
    );
    // One line per problem: nothing spans lines.
    expect(all.every((l) => !l.includes("\n"))).toBe(true);
  });

  it("validates checks by rule", () => {
    const text = minimal.replace(
      "target:",
      `checks:\n      - { rule: range, column: amount, min: 0 }\n      - { rule: bogus }\n    target:`,
    );
    const all = problems(text);
    expect(all.some((l) => l.startsWith("sluice.yaml: pipelines.orders.checks[1].rule:"))).toBe(true);
  });
});
