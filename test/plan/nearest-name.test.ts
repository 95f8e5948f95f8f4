import { describe, expect, it } from "vitest";
import { didYouMean, nearestName } from "../../src/plan/nearest-name.js";

describe("nearestName", () => {
  it("finds a misspelt word within a few edits, a swap counting as one", () => {
    expect(nearestName("dedup", ["derive", "dedupe", "description"])).toBe("dedupe");
    expect(nearestName("emial", ["hash", "redact", "email"])).toBe("email");
    expect(nearestName("strng", ["string", "struct"])).toBe("string");
    expect(nearestName("mod", ["mode", "keys"])).toBe("mode");
  });

  it("matches names that differ only in case or separators first", () => {
    expect(nearestName("email", ["id", "e_mail", "mail"])).toBe("e_mail");
    expect(nearestName("ssn", ["id", "SSN"])).toBe("SSN");
  });

  it("suggests nothing when no candidate is close, and never the word itself", () => {
    expect(nearestName("zzz", ["table", "mode"])).toBeUndefined();
    expect(nearestName("upsert", ["append", "replace", "merge"])).toBeUndefined();
    expect(nearestName("mode", ["mode"])).toBeUndefined();
    expect(didYouMean("dedup", ["dedupe"])).toBe("; did you mean `dedupe`?");
    expect(didYouMean("zzz", ["dedupe"])).toBe("");
  });
});
