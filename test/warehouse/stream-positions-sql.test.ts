import { describe, expect, it } from "vitest";
import { atOrBelowFloorSql } from "../../src/warehouse/stream-floor-sql.js";
import { publishedPositionsSql, streamPositionsClaimSql } from "../../src/warehouse/stream-positions-sql.js";

describe("streamPositionsClaimSql", () => {
  it("claims sorted positions as one split literal, leaving taken ones (ON CONFLICT DO NOTHING) and those at or below the floor", () => {
    expect(streamPositionsClaimSql("events", "stream:events/b", ["9", "10", "1700000000000-0"])).toBe(
      `INSERT INTO sluice.stream_published (pipeline, position, batch) SELECT 'events', t.position, 'stream:events/b' FROM unnest(string_to_array('10,1700000000000-0,9', ',')) AS t(position) WHERE NOT ${atOrBelowFloorSql("events", "t.position")} ON CONFLICT DO NOTHING`,
    );
  });

  it("lists a position holding a comma as its own row, and claims nothing for no positions", () => {
    expect(streamPositionsClaimSql("p", "b", ["a,b", "c"])).toBe(
      `INSERT INTO sluice.stream_published (pipeline, position, batch) SELECT 'p', t.position, 'b' FROM (VALUES ('a,b'), ('c')) AS t(position) WHERE NOT ${atOrBelowFloorSql("p", "t.position")} ON CONFLICT DO NOTHING`,
    );
    expect(streamPositionsClaimSql("p", "b", [])).toBeUndefined();
  });
});

describe("publishedPositionsSql", () => {
  it("asks about positions as one split literal (an IN list of 10,000 literals is slow to parse)", () => {
    const sql = publishedPositionsSql("events", ["9", "10"]);
    expect(sql).toContain("position IN (SELECT unnest(string_to_array('9,10', ',')))");
    expect(sql).not.toContain("'9', '10'");
  });

  it("lists positions as literals when one holds a comma, and matches nothing for none", () => {
    expect(publishedPositionsSql("p", ["a,b", "c"])).toContain("position IN ('a,b', 'c')");
    expect(publishedPositionsSql("p", [])).toContain("position IN (NULL)");
  });
});
