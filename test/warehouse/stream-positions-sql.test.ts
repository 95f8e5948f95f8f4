import { describe, expect, it } from "vitest";
import { claimKey, positionRanges } from "../../src/warehouse/position-ranges.js";
import { publishedPositionsSql, streamClaimSql } from "../../src/warehouse/stream-positions-sql.js";

describe("positionRanges", () => {
  const of = (...positions: string[]) => positionRanges(positions.map((position) => ({ position })));
  const spans = (ranges: ReturnType<typeof of>) => ranges.map((r) => `${r.first}..${r.last}:${r.count}`);

  it("joins consecutive NATS sequences, in position order, each once", () => {
    expect(spans(of("7", "8", "9", "11", "10", "20", "8"))).toEqual(["7..11:5", "20..20:1"]);
    expect(spans(of("9007199254740993", "9007199254740994"))).toEqual([
      "9007199254740993..9007199254740994:2",
    ]);
    expect(spans(of("9007199254740992", "9007199254740994"))).toHaveLength(2);
    expect(of()).toEqual([]);
  });

  it("joins Redis ids of one ms in sequence; across ms only when the broker says one follows the other", () => {
    expect(spans(of("5-1", "5-2", "6-0", "5-4"))).toEqual(["5-1..5-2:2", "5-4..5-4:1", "6-0..6-0:1"]);
    const told = positionRanges([
      { position: "5-2" },
      { position: "6-0", follows: "5-2" },
      { position: "9-3", follows: "6-0" },
      { position: "12-0", follows: "9-9" },
    ]);
    expect(spans(told)).toEqual(["5-2..9-3:3", "12-0..12-0:1"]);
  });

  it("keeps a string that is no position on its own, and never joins forms", () => {
    expect(spans(of("x", "x,1", "7", "7-1", "8"))).toEqual([
      "7..7:1",
      "7-1..7-1:1",
      "8..8:1",
      "x..x:1",
      "x,1..x,1:1",
    ]);
  });
});

describe("claimKey", () => {
  it("orders positions as numbers, as text", () => {
    const keys = ["9", "10", "1700000000000-0", "999999999999-5", "x"].map(claimKey);
    expect([...keys].sort()).toEqual([
      claimKey("9"),
      claimKey("10"),
      claimKey("999999999999-5"),
      claimKey("1700000000000-0"),
      claimKey("x"),
    ]);
    expect(claimKey("7")).toBe(`${"7".padStart(20, "0")}${"0".repeat(20)}`);
  });
});

describe("streamClaimSql", () => {
  it("claims a batch's ranges as split literals, leaving out those overlapping a claim or the floor", () => {
    const sql = streamClaimSql("events", "stream:events/b", [
      { first: "9", last: "10", count: 2 },
      { first: "12", last: "12", count: 1 },
    ])!;
    expect(sql).toContain(`unnest(string_to_array('${claimKey("9")},${claimKey("12")}', ',')) AS first_key`);
    expect(sql).toContain("unnest(string_to_array('9,12', ',')) AS first_position");
    expect(sql).toContain("c.last_key >= r.first_key AND c.first_key <= r.last_key");
    expect(sql).toContain("r.first_key > coalesce(");
  });

  it("lists a position holding a comma in VALUES, and claims nothing for none", () => {
    expect(streamClaimSql("p", "b", [{ first: "a,b", last: "a,b", count: 1 }])).toContain(
      "(VALUES ('~a,b', '~a,b', 'a,b', 'a,b'))",
    );
    expect(streamClaimSql("p", "b", [])).toBeUndefined();
  });
});

describe("publishedPositionsSql", () => {
  it("asks about positions as one split literal (an IN list of 10,000 literals is slow to parse)", () => {
    const sql = publishedPositionsSql("events", ["9", "10"]);
    expect(sql).toContain("position IN (SELECT unnest(string_to_array('9,10', ',')))");
    expect(sql).toContain("unnest(string_to_array('9,10', ',')) AS position");
    expect(sql).not.toContain("'9', '10'");
  });

  it("lists positions as literals when one holds a comma, and matches nothing for none", () => {
    expect(publishedPositionsSql("p", ["a,b", "c"])).toContain("position IN ('a,b', 'c')");
    expect(publishedPositionsSql("p", [])).toContain("position IN (NULL)");
  });
});
