import { type SqlToken, severalStatements, sqlTokens } from "./sql-tokens.js";

/**
 * PostgreSQL functions that act beyond a read-only query. A `READ ONLY` transaction stops writes to
 * tables and sequences, but not these: large objects (`lo_from_bytea` persists one, `lo_export` writes a
 * server file), server files and directories, other databases (dblink), notifications, advisory locks,
 * WAL messages, settings (`set_config('role', …)` takes the session user's role back), server
 * administration, and functions that run SQL given as text (which would hide any of the others).
 */
const SIDE_EFFECTS: readonly { readonly pattern: RegExp; readonly what: string }[] = [
  { pattern: /^(lo_\w+|loread|lowrite)$/, what: "large objects outlive the query" },
  {
    pattern: /^(pg_read_\w+|pg_ls_\w+|pg_stat_file|pg_file_\w+)$/,
    what: "it reaches the server's files",
  },
  { pattern: /^dblink\w*$/, what: "it reaches another database" },
  { pattern: /^(pg_notify|pg_logical_emit_message)$/, what: "it sends a message to other sessions" },
  { pattern: /^pg_(try_)?advisory_\w+$/, what: "it takes locks other sessions wait on" },
  { pattern: /^set_config$/, what: "it changes the session's settings or role" },
  {
    pattern: /^(query_to_xml\w*|cursor_to_xml\w*|ts_stat|ts_rewrite|xpath_table)$/,
    what: "it runs SQL given as text",
  },
  {
    pattern:
      /^(pg_(terminate|cancel)_backend|pg_reload_conf|pg_rotate_logfile\w*|pg_switch_wal|pg_create_\w+|pg_drop_replication_slot|pg_replication_\w+|pg_copy_\w+_replication_slot|pg_promote|pg_wal_replay_\w+|pg_backup_\w+|pg_(start|stop)_backup|pg_import_system_collations|pg_log_backend_memory_contexts|pg_stat_\w*reset\w*|binary_upgrade_\w+)$/,
    what: "it administers the server",
  },
];

/** The first statement words `sluice query` runs on PostgreSQL. */
const QUERY_WORDS = new Set(["select", "with", "values", "table", "explain", "show"]);

/**
 * Why `sql` may not run as a read-only query on PostgreSQL, or null: it calls a function with effects
 * beyond the query (see SIDE_EFFECTS), names a function through a `U&"…"` identifier (which would hide
 * its name), or cannot be read. Pure; the server's `READ ONLY` transaction stops the rest.
 *
 * @example
 * postgresSideEffectProblem("select lo_from_bytea(0, 'x')") // "calls lo_from_bytea(): large objects outlive the query; ..."
 */
export function postgresSideEffectProblem(sql: string): string | null {
  const read = sqlTokens(sql);
  if ("problem" in read) return read.problem;
  const { tokens } = read;
  for (const [i, token] of tokens.entries()) {
    const next = tokens[i + 1];
    if (!(next?.kind === "symbol" && next.text === "(")) continue;
    if (token.kind === "unicode") {
      return 'calls a function through a U&"…" identifier; write the function name plainly';
    }
    const name = functionName(token);
    if (name === undefined) continue;
    const effect = SIDE_EFFECTS.find((s) => s.pattern.test(name));
    if (effect) {
      return `calls ${name}(): ${effect.what}; Sluice runs only read-only SQL on PostgreSQL (see docs/security.md)`;
    }
  }
  return null;
}

/**
 * Why `sql` is not one read-only query `sluice query` runs on PostgreSQL (one SELECT, WITH, VALUES,
 * TABLE, EXPLAIN or SHOW, without functions with side effects), or null.
 *
 * @example
 * postgresQueryProblem("do $$ begin perform 1; end $$") // "DO is not a query; sluice query runs ..."
 */
export function postgresQueryProblem(sql: string): string | null {
  const read = sqlTokens(sql);
  if ("problem" in read) return `the SQL ${read.problem}`;
  if (severalStatements(read.tokens)) {
    return "the SQL holds several statements; sluice query runs one statement at a time (nothing was run)";
  }
  const first = read.tokens.find((t) => !(t.kind === "symbol" && t.text === "("));
  const word = first?.kind === "word" ? first.text.toLowerCase() : undefined;
  if (word === undefined || !QUERY_WORDS.has(word)) {
    return `${word === undefined ? "the SQL" : word.toUpperCase()} is not a query; sluice query runs read-only queries (SELECT, WITH, VALUES, TABLE, EXPLAIN, SHOW) in a transaction of its own (nothing was run)`;
  }
  return postgresSideEffectProblem(sql);
}

function functionName(token: SqlToken): string | undefined {
  if (token.kind === "word") return token.text.toLowerCase();
  if (token.kind === "quoted") return token.text.toLowerCase();
  return undefined;
}
