/**
 * PostgreSQL's longest identifier in bytes (`NAMEDATALEN - 1`); it silently truncates longer ones, so
 * two names that differ only after the limit would mean the same table or column.
 */
export const postgresIdentifierLimit = 63;

/**
 * Whether an identifier is longer than PostgreSQL keeps (counted in UTF-8 bytes, as the server does).
 *
 * @example
 * exceedsPostgresIdentifierLimit("x".repeat(64)) // true
 */
export function exceedsPostgresIdentifierLimit(name: string): boolean {
  return Buffer.byteLength(name, "utf8") > postgresIdentifierLimit;
}

/**
 * The longest prefix of `text` that fits in `bytes` UTF-8 bytes without splitting a character.
 *
 * @example
 * truncateToBytes("größe", 3) // "gr"
 */
export function truncateToBytes(text: string, bytes: number): string {
  let out = "";
  let used = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char, "utf8");
    if (used + size > bytes) break;
    out += char;
    used += size;
  }
  return out;
}
