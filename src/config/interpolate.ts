/** A `${VAR}` reference that has no value in the environment. */
export interface MissingVariable {
  readonly name: string;
  readonly line: number;
}

/**
 * Replaces `${NAME}` and `${NAME:-default}` with environment values; `$${...}` stays literal.
 * Pure: the environment is passed in.
 *
 * @example
 * interpolate("url: postgres://u:${PGPASSWORD}@h/db", { PGPASSWORD: "s3cret" }).text
 */
export function interpolate(
  text: string,
  env: Readonly<Record<string, string | undefined>>,
): { text: string; missing: MissingVariable[] } {
  const missing: MissingVariable[] = [];
  const out = text.replace(
    /(\$?)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (match, escaped: string, name: string, fallback: string | undefined, offset: number) => {
      if (escaped === "$") return match.slice(1);
      const value = env[name];
      if (value !== undefined && value !== "") return value;
      if (fallback !== undefined) return fallback;
      missing.push({ name, line: text.slice(0, offset).split("\n").length });
      return "";
    },
  );
  return { text: out, missing };
}
