import { describe, expect, it } from "vitest";
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
