import { describe, expect, it } from "vitest";
import { postgresQueryProblem, postgresSideEffectProblem } from "../../src/plan/postgres-side-effects.js";
import { sourceQueryBody } from "../../src/plan/sql-tokens.js";

describe("sourceQueryBody", () => {
  it.each([
    ["select * from t -- every row", "select * from t"],
    ["select * from t; -- done", "select * from t"],
    ["select * from t;;  \n", "select * from t"],
    ["-- orders\nselect 1 /* one */", "select 1"],
    ["select '--not a comment', ';' as semi", "select '--not a comment', ';' as semi"],
    ["select $$;$$ -- x", "select $$;$$"],
    ["select 1 -- a\n  from t -- b", "select 1 -- a\n  from t"],
  ])("%j nests as %j", (sql, body) => {
    expect(sourceQueryBody(sql)).toEqual({ body });
  });

  it("refuses several statements and unterminated text", () => {
    expect(sourceQueryBody("select 1; drop table t")).toEqual({
      problem: "holds several statements; write one query (a SELECT), without ';' inside",
    });
    expect(sourceQueryBody("select 'x")).toEqual({ problem: "has an unterminated string literal (')" });
    expect(sourceQueryBody("-- nothing")).toEqual({ problem: "holds no query" });
  });
});

describe("postgresSideEffectProblem", () => {
  it.each([
    ["select lo_from_bytea(0, 'x')", "lo_from_bytea"],
    ["select pg_catalog.lo_export(16384, '/tmp/x')", "lo_export"],
    ["select \"lo_import\"('/etc/passwd')", "lo_import"],
    ["select LO_UNLINK /* spaced */ (1)", "lo_unlink"],
    ["select lowrite(0, 'x')", "lowrite"],
    ["select pg_read_file('/etc/passwd')", "pg_read_file"],
    ["select * from pg_ls_dir('/')", "pg_ls_dir"],
    ["select pg_file_write('x', 'y', false)", "pg_file_write"],
    ["select set_config('role', 'postgres', true)", "set_config"],
    ["select query_to_xml('select lo_from_bytea(0, ''x'')', true, true, '')", "query_to_xml"],
    ["select * from dblink('dbname=x', 'select 1') as t(a int)", "dblink"],
    ["select pg_notify('c', 'm')", "pg_notify"],
    ["select pg_advisory_lock(1)", "pg_advisory_lock"],
    ["select pg_terminate_backend(1)", "pg_terminate_backend"],
    ["select pg_logical_emit_message(true, 'a', 'b')", "pg_logical_emit_message"],
  ])("refuses %s", (sql, name) => {
    expect(postgresSideEffectProblem(sql)).toMatch(new RegExp(`^calls ${name}\\(\\): `));
  });

  it.each([
    "select count(*) from orders where note = 'lo_from_bytea(0)'",
    "select 1 -- lo_unlink(1)",
    'select "lo_export" from t',
    "select lower(name), coalesce(a, b) from t where id in (1, 2)",
    "with x as (select 1) select * from x",
  ])("lets %s through", (sql) => {
    expect(postgresSideEffectProblem(sql)).toBeNull();
  });

  it("refuses a function named through a U& identifier", () => {
    expect(postgresSideEffectProblem("select U&\"lo\\005ffrom_bytea\"(0, 'x')")).toMatch(/U&/);
  });
});

describe("postgresQueryProblem", () => {
  it("accepts queries and refuses other statements, several statements and side effects", () => {
    for (const sql of [
      "SELECT 1",
      "(select 1)",
      "with a as (select 1) select * from a",
      "values (1)",
      "table t",
      "explain select 1",
      "show work_mem",
    ]) {
      expect(postgresQueryProblem(sql)).toBeNull();
    }
    expect(postgresQueryProblem("do $$ begin perform lo_from_bytea(0, 'x'); end $$")).toMatch(
      /^DO is not a query; sluice query runs read-only queries/,
    );
    expect(postgresQueryProblem("copy (select 1) to '/tmp/x'")).toMatch(/^COPY is not a query/);
    expect(postgresQueryProblem("commit")).toMatch(/^COMMIT is not a query/);
    expect(postgresQueryProblem("COMMIT; CREATE TABLE pwned (x int)")).toMatch(/holds several statements/);
    expect(postgresQueryProblem("select lo_create(0)")).toMatch(/^calls lo_create\(\)/);
  });
});
