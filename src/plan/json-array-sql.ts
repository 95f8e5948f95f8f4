import { quoteIdent, quoteLiteral } from "./sql-text.js";

/**
 * A line reduced to its JSON structure: strings and whitespace go, and every run of other characters
 * (a key's colon, numbers, literals) becomes `v`. A JSON string never holds a raw newline, so a line's
 * strings always end on it and the reduction is exact line by line.
 */
function structureSql(line: string): string {
  const bare = `regexp_replace(${line}, '"(?:[^"\\\\]|\\\\.)*"|[\\s\\x{FEFF}]+', '', 'g')`;
  return `regexp_replace(${bare}, '[^\\[\\]{},]+', 'v', 'g')`;
}

/** Lines that can hold structure: a bracket, or a comma opening the line (lines of plain values cannot). */
function mayHoldStructureSql(line: string): string {
  return `(contains(${line}, '{') OR contains(${line}, '}') OR contains(${line}, '[') OR contains(${line}, ']') OR starts_with(ltrim(${line}), ','))`;
}

/**
 * SQL creating `reduced` (`line_no`, `c`, `delta`, `depth`): each line of `lines` (one row per physical
 * line, in file order) that holds structure, reduced to it, with the bracket depth it changes by and the
 * depth at its end. Lines of keys and plain values only are left out: they change no depth, and no
 * object starts on them.
 *
 * @example
 * jsonStructureSql("f1_lines", "f1_reduced") // CREATE OR REPLACE TEMP TABLE "f1_reduced" AS ...
 */
export function jsonStructureSql(lines: string, reduced: string): string {
  const count = (chars: [string, string]) =>
    `length(c) - length(replace(replace(c, '${chars[0]}', ''), '${chars[1]}', ''))`;
  return `CREATE OR REPLACE TEMP TABLE ${quoteIdent(reduced)} AS
    SELECT line_no, c, delta, sum(delta) OVER (ORDER BY line_no ROWS UNBOUNDED PRECEDING) AS depth
    FROM (SELECT line_no, c, ${count(["[", "{"])} - (${count(["]", "}"])}) AS delta
          FROM (SELECT rowid + 1 AS line_no, ${structureSql("line")} AS c FROM ${quoteIdent(lines)}
                WHERE line IS NOT NULL AND ${mayHoldStructureSql("line")}))
    WHERE c <> ''`;
}

/**
 * SQL for the layout of a JSON array file from its `reduced` table: its content lines, whether it
 * opens with `[` and closes with `]` back at depth 0, and whether every line holds whole elements only
 * (no element spans lines).
 */
export function jsonArrayLayoutSql(reduced: string): string {
  return `SELECT count(*) AS lines, min(line_no) AS first_line, max(line_no) AS last_line,
      coalesce(arg_min(c, line_no) LIKE '[%', false) AS opens,
      coalesce(arg_max(c, line_no) LIKE '%]' AND arg_max(depth, line_no) = 0, false) AS closes,
      arg_max(depth, line_no) AS open_at_end,
      coalesce(bool_and((line_no = first OR depth - delta = 1) AND (line_no = last OR depth = 1)), true) AS line_per_element
    FROM (SELECT *, min(line_no) OVER () AS first, max(line_no) OVER () AS last FROM ${quoteIdent(reduced)})`;
}

/**
 * SQL creating `starts` (`ordinal`, `line`): the 1-based line where each element of the top-level JSON
 * array starts, numbered in array order, from its `reduced` table. One bulk pass: a running sum of the
 * brackets gives the depth, and an element starts after the array's `[` and after each comma at depth 1
 * — on the same line when something follows there, else on the next line that has content. A comma
 * followed by a key or a plain value is dropped before the scan (inside objects that is every comma), so
 * an array also holding values that are not objects numbers fewer starts than it has elements: the
 * caller then knows no line.
 *
 * @example
 * jsonElementStartsSql("f1_reduced", "f1_starts") // CREATE OR REPLACE TEMP TABLE "f1_starts" AS ...
 */
export function jsonElementStartsSql(reduced: string, starts: string): string {
  return `CREATE OR REPLACE TEMP TABLE ${quoteIdent(starts)} AS
    WITH content AS (
      SELECT line_no, c, regexp_replace(c, ',v|v', '', 'g') AS s, lead(line_no) OVER (ORDER BY line_no) AS next_line
      FROM ${quoteIdent(reduced)}
    ), tokens AS (
      SELECT line_no, next_line, right(c, 1) <> 'v' AND i = length(s) AS ends_line, ch, i
      FROM (SELECT line_no, next_line, c, s, unnest(string_split(s, '')) AS ch,
                   generate_subscripts(string_split(s, ''), 1) AS i
            FROM content WHERE s <> '')
    ), depths AS (
      SELECT *, sum(CASE WHEN ch IN ('[', '{') THEN 1 WHEN ch IN (']', '}') THEN -1 ELSE 0 END)
                  OVER (ORDER BY line_no, i ROWS UNBOUNDED PRECEDING) AS depth
      FROM tokens
    )
    SELECT row_number() OVER (ORDER BY line_no, i) AS ordinal,
           CASE WHEN ends_line THEN next_line ELSE line_no END AS line
    FROM depths WHERE depth = 1 AND ch IN ('[', ',') AND NOT (ends_line AND next_line IS NULL)`;
}

/**
 * SQL for the elements of a JSON array written one element per line (`line`, `text`): the array's `[`
 * and `]` and the separating commas are cut off each content line. Used to set apart the elements of
 * an array that does not parse as a whole, so that only the bad ones are quarantined.
 *
 * @example
 * jsonLineElementsSql("f1_lines") // SELECT line, text FROM ...
 */
export function jsonLineElementsSql(lines: string): string {
  return `SELECT line, text FROM (
      SELECT line, trim(regexp_replace(
               CASE WHEN line = last THEN regexp_replace(t, '\\]$', '') ELSE t END, ',$', '')) AS text
      FROM (SELECT line, min(line) OVER () AS first, max(line) OVER () AS last,
                   CASE WHEN line = min(line) OVER () THEN trim(regexp_replace(t0, '^\\[', '')) ELSE t0 END AS t
            FROM (SELECT rowid + 1 AS line, trim(raw, ' \t' || chr(13) || chr(65279)) AS t0
                  FROM (SELECT rowid, line AS raw FROM ${quoteIdent(lines)})
                  WHERE raw IS NOT NULL AND trim(raw, ' \t' || chr(13) || chr(65279)) <> '')))
    WHERE text <> '' ORDER BY line`;
}

/** `read_json` of a file holding one JSON array, each element as one JSON value. */
export function jsonArrayReadSql(path: string, maxElementBytes: number): string {
  return `read_json(${quoteLiteral(path)}, format='array', records=false, columns={'json': 'JSON'}, maximum_object_size=${maxElementBytes})`;
}
