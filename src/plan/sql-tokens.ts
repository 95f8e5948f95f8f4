/**
 * A light SQL tokenizer for checks on SQL text from a config or a user (DuckDB and PostgreSQL dialects):
 * words, quoted identifiers and single symbols, with string literals (`'…'`, `E'…'`, `$tag$…$tag$`) and
 * comments (`--`, nested block comments) told apart from code. It never decides what SQL means; it finds
 * statement separators and function names so they can be refused with a clear message.
 */

/**
 * One token: a bare word, a quoted identifier (`"…"`, unescaped), a `U&"…"` identifier, a string literal
 * (its text not kept), or a symbol.
 */
export interface SqlToken {
  readonly kind: "word" | "quoted" | "unicode" | "literal" | "symbol";
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

/** The tokens of `sql`, or why it cannot be read (an unterminated literal or comment). */
export type Tokenized = { readonly tokens: readonly SqlToken[] } | { readonly problem: string };

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;

/** Index just past a quoted run opening at `start`; a doubled quote is part of it. -1 if never closed. */
function skipQuoted(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    if (backslashEscapes && sql[i] === "\\") i += 2;
    else if (sql[i] !== quote) i++;
    else if (sql[i + 1] === quote) i += 2;
    else return i + 1;
  }
  return -1;
}

/** Index just past a (possibly nested) block comment opening at `start`, or -1. */
function skipBlockComment(sql: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < sql.length) {
    if (sql.startsWith("/*", i)) {
      depth++;
      i += 2;
    } else if (sql.startsWith("*/", i)) {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else i++;
  }
  return -1;
}

/**
 * Splits SQL text into tokens.
 *
 * @example
 * sqlTokens("select lo_unlink(1) -- x") // words select, lo_unlink; symbols ( 1 ... )
 */
export function sqlTokens(sql: string): Tokenized {
  const tokens: SqlToken[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      const prev = tokens.at(-1);
      const escapes = prev?.kind === "word" && prev.end === i && /^e$/i.test(prev.text);
      const end = skipQuoted(sql, i, "'", escapes);
      if (end < 0) return { problem: "has an unterminated string literal (')" };
      tokens.push({ kind: "literal", text: "", start: i, end });
      i = end;
    } else if (c === '"') {
      const end = skipQuoted(sql, i, '"', false);
      if (end < 0) return { problem: 'has an unterminated quoted identifier (")' };
      const [u, amp] = tokens.slice(-2);
      const unicode =
        amp?.text === "&" &&
        amp.end === i &&
        u?.kind === "word" &&
        u.end === amp.start &&
        /^u$/i.test(u.text);
      tokens.push({
        kind: unicode ? "unicode" : "quoted",
        text: sql.slice(i + 1, end - 1).replaceAll('""', '"'),
        start: i,
        end,
      });
      i = end;
    } else if (c === "$" && /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.test(sql.slice(i))) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i))![0];
      const close = sql.indexOf(tag, i + tag.length);
      if (close < 0) return { problem: `has an unterminated ${tag} string` };
      tokens.push({ kind: "literal", text: "", start: i, end: close + tag.length });
      i = close + tag.length;
    } else if (sql.startsWith("--", i)) {
      const newline = sql.indexOf("\n", i);
      i = newline < 0 ? sql.length : newline + 1;
    } else if (sql.startsWith("/*", i)) {
      const end = skipBlockComment(sql, i);
      if (end < 0) return { problem: "has an unterminated /* comment" };
      i = end;
    } else if (WORD_START.test(c)) {
      let j = i + 1;
      while (j < sql.length && WORD_PART.test(sql[j]!)) j++;
      tokens.push({ kind: "word", text: sql.slice(i, j), start: i, end: j });
      i = j;
    } else {
      tokens.push({ kind: "symbol", text: c, start: i, end: i + 1 });
      i++;
    }
  }
  return { tokens };
}

/**
 * A pipeline's `source.sql` as it can be nested in another query: trailing `;` and comments removed (a
 * trailing `-- comment` would otherwise swallow the closing parenthesis), or why it cannot be: several
 * statements, or an unterminated literal or comment.
 *
 * @example
 * sourceQueryBody("select * from t -- all rows\n;") // { body: "select * from t" }
 * sourceQueryBody("select 1; drop table t") // { problem: "holds several statements; ..." }
 */
export function sourceQueryBody(sql: string): { readonly body: string } | { readonly problem: string } {
  const read = sqlTokens(sql);
  if ("problem" in read) return read;
  const significant = read.tokens.filter((t) => !isSeparator(t));
  const last = significant.at(-1);
  if (last === undefined) return { problem: "holds no query" };
  if (severalStatements(read.tokens)) {
    return { problem: "holds several statements; write one query (a SELECT), without ';' inside" };
  }
  return { body: sql.slice(significant[0]!.start, last.end) };
}

/**
 * Whether the tokens hold more than one statement (a `;` with code after it).
 *
 * @example
 * severalStatements(tokensOf("select 1; select 2")) // true
 */
export function severalStatements(tokens: readonly SqlToken[]): boolean {
  const last = tokens.findLast((t) => !isSeparator(t));
  return last !== undefined && tokens.some((t) => isSeparator(t) && t.start < last.start);
}

function isSeparator(token: SqlToken): boolean {
  return token.kind === "symbol" && token.text === ";";
}
