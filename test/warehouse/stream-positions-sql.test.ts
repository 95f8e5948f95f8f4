import { describe, expect, it } from "vitest";
import { streamPositionsClaimSql } from "../../src/warehouse/stream-positions-sql.js";

describe("streamPositionsClaimSql", () => {
  it("claims sorted positions as one split literal, leaving taken ones (ON CONFLICT DO NOTHING)", () => {
    expect(streamPositionsClaimSql("events", "stream:events/b", ["9", "10", "1700000000000-0"])).toBe(
      "INSERT INTO sluice.stream_published (pipeline, position, batch) SELECT 'events', position, 'stream:events/b' FROM unnest(string_to_array('10,1700000000000-0,9', ',')) AS t(position) ON CONFLICT DO NOTHING",
    );
  });

  it("lists a position holding a comma as its own row, and claims nothing for no positions", () => {
    expect(streamPositionsClaimSql("p", "b", ["a,b", "c"])).toBe(
      "INSERT INTO sluice.stream_published (pipeline, position, batch) VALUES ('p', 'a,b', 'b'), ('p', 'c', 'b') ON CONFLICT DO NOTHING",
    );
    expect(streamPositionsClaimSql("p", "b", [])).toBeUndefined();
  });
});
