import { describe, expect, it } from "vitest";
import { detectCsvLayout, repairHeader, sampleFits } from "../../src/plan/detect-csv-layout.js";

const rows = (n: number, d = ",") => Array.from({ length: n }, (_, i) => [i, `n${i}`, `${i}.5`].join(d));

describe("detectCsvLayout", () => {
  it("finds a preamble and the header after it", () => {
    const layout = detectCsvLayout(`Report\n\nid,name,v\n${rows(10).join("\n")}\n`, true, {});
    expect(layout).toMatchObject({
      delimiter: ",",
      preambleLines: 2,
      headerLine: 2,
      repairedNames: undefined,
    });
  });

  it("never skips lines that hold values: rows of another width near the start are no preamble", () => {
    // Three rows of three fields, then rows of two: skipping the first ones would lose rows.
    const text = `id,kind,day\n1,a,2025-01-01\n2,b,2025-01-02\n3,c,2025-01-03\n4,x\n5,y\n`;
    expect(detectCsvLayout(text, true, {})).toBeUndefined();
  });

  it("prefers the delimiter that splits the header like the rows (1;2,5 is ;-delimited)", () => {
    const text = `id;v\n${Array.from({ length: 10 }, (_, i) => `${i};${i},5`).join("\n")}\n`;
    expect(detectCsvLayout(text, true, {})).toMatchObject({
      delimiter: ";",
      headerLine: 0,
      decimalComma: { columns: [1], thousands: undefined },
    });
  });

  it("keeps the user's fixed delimiter", () => {
    const text = `id;v\n${Array.from({ length: 10 }, (_, i) => `${i};${i},5`).join("\n")}\n`;
    expect(detectCsvLayout(text, true, { delimiter: "," })?.delimiter).toBe(",");
  });
});

describe("repairHeader", () => {
  const dialect = { delimiter: ",", quote: '"', escape: '"' };
  it.each([
    ["id,name amount,day", ["id", "name", "amount", "day"]],
    ["id;name;amount;day", ["id", "name", "amount", "day"]],
    ['id,"name,amount,day', ["id", "name", "amount", "day"]],
    ["id,,name,amount,day", ["id", "name", "amount", "day"]],
    ["id,na,me,amount,day", ["id", "na", "amount", "day"]],
    ["id,name", ["id", null, null, "name"]],
  ])("%s", (line, names) => {
    expect(repairHeader(line, dialect, 4)).toEqual(names);
  });
});

describe("sampleFits", () => {
  const read = { delimiter: ",", quote: '"', escape: "", skip: 0, header: true, columns: 3 };
  it("a clean file fits its sniffed dialect", () => {
    expect(sampleFits(`id,name,v\n${rows(20).join("\n")}\n`, true, read)).toBe(true);
  });
  it.each([
    ["a row of another width", `id,name,v\n${rows(5).join("\n")}\n,1,a,2\n`],
    ["a title row taken for the header", `Report,,\n${rows(5).join("\n")}\n`],
    ["a header as the first row", `Report,,x\nid,name,v\n${rows(5).join("\n")}\n`],
    ["padding after the delimiter", `id, name, v\n${rows(5, ", ").join("\n")}\n`],
  ])("%s does not", (_, text) => {
    expect(sampleFits(text, true, read)).toBe(false);
  });
});
