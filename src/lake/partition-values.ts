import { quoteLiteral } from "../plan/sql-text.js";
import { type DeltaType, deltaToDuckType } from "./delta-schema.js";

/** Folder name Hive, Spark and Delta use for a NULL partition value. */
export const HIVE_NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__";

/** Characters Hive/Spark escape in partition folder names (`%XX`, upper-case hex). */
function needsEscape(code: number): boolean {
  return code < 0x20 || code === 0x7f || `"#%'*/:=?\\{[]^`.includes(String.fromCharCode(code));
}

/**
 * Escapes a partition value for a `key=value` folder the way Hive and Spark do;
 * NULL becomes `__HIVE_DEFAULT_PARTITION__`. Unicode and spaces stay as they are.
 *
 * @example
 * escapePartitionValue("a/b=c"); // "a%2Fb%3Dc"
 */
export function escapePartitionValue(value: string | null): string {
  if (value === null) return HIVE_NULL_PARTITION;
  if (value === "") return HIVE_NULL_PARTITION;
  let out = "";
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    out += code < 0x80 && needsEscape(code) ? `%${code.toString(16).toUpperCase().padStart(2, "0")}` : ch;
  }
  return out;
}

/**
 * Reverses {@link escapePartitionValue}.
 *
 * @example
 * unescapePartitionValue("a%2Fb"); // "a/b"
 */
export function unescapePartitionValue(text: string): string | null {
  if (text === HIVE_NULL_PARTITION) return null;
  return text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
}

/**
 * The relative folder of one partition: `k1=v1/k2=v2` (empty for unpartitioned tables).
 *
 * @example
 * partitionFolder(["year"], { year: "2024" }); // "year=2024"
 */
export function partitionFolder(
  columns: readonly string[],
  values: Readonly<Record<string, string | null>>,
): string {
  return columns
    .map((c) => `${escapePartitionValue(c)}=${escapePartitionValue(values[c] ?? null)}`)
    .join("/");
}

/**
 * Encodes a relative file path as the URI string Delta stores in `add.path`
 * (so `%` becomes `%25` and a space `%20`).
 *
 * @example
 * pathToDeltaUri("p=a%2Fb/part 1.parquet"); // "p=a%252Fb/part%201.parquet"
 */
export function pathToDeltaUri(path: string): string {
  return path
    .split("/")
    .map((segment) =>
      encodeURIComponent(segment).replace(/%3D|%40|%3A|%2B|%2C/g, (m) => decodeURIComponent(m)),
    )
    .join("/");
}

/**
 * Decodes `add.path`/`remove.path` into a plain path. Absolute URIs (`file:/x`,
 * `file:///x`, `s3://b/k`) keep their scheme except `file:`, which becomes an absolute path.
 *
 * @example
 * deltaUriToPath("special%20p@%23h"); // "special p@#h"
 */
export function deltaUriToPath(uri: string): string {
  let path = uri;
  const file = /^file:(\/\/[^/]*)?(\/.*)$/.exec(uri);
  if (file) path = file[2]!;
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** True when a decoded Delta path points outside the table (absolute path or another scheme). */
export function isAbsoluteDeltaPath(path: string): boolean {
  return path.startsWith("/") || /^[a-z][a-z0-9+.-]*:\/\//i.test(path);
}

/**
 * SQL expression that turns a column of the given Delta type into its
 * partition-value string (PROTOCOL.md "Partition Value Serialization").
 *
 * @example
 * partitionValueExpression('"d"', "date"); // strftime(...)
 */
export function partitionValueExpression(columnSql: string, type: DeltaType): string {
  switch (type) {
    case "date":
      return `strftime(${columnSql}, '%Y-%m-%d')`;
    case "timestamp":
      return `strftime(timezone('UTC', ${columnSql}), '%Y-%m-%d %H:%M:%S.%f')`;
    case "timestamp_ntz":
      return `strftime(CAST(${columnSql} AS TIMESTAMP), '%Y-%m-%d %H:%M:%S.%f')`;
    case "boolean":
      return `CASE WHEN ${columnSql} THEN 'true' WHEN NOT ${columnSql} THEN 'false' END`;
    case "binary":
      return `decode(${columnSql})`;
    default:
      return `CAST(${columnSql} AS VARCHAR)`;
  }
}

/**
 * A typed SQL literal for a partition value string read from the log.
 *
 * @example
 * partitionLiteral("2024-01-02", "date"); // "CAST('2024-01-02' AS DATE)"
 */
export function partitionLiteral(value: string | null | undefined, type: DeltaType): string {
  const duck = deltaToDuckType(type);
  if (value === null || value === undefined) return `CAST(NULL AS ${duck})`;
  if (type === "string") return quoteLiteral(value);
  if (value === "" && type !== "binary") return `CAST(NULL AS ${duck})`;
  if (type === "timestamp") {
    // "2024-01-02 03:04:05[.ffffff]" is UTC; an ISO-8601 form with a Z is too.
    const naive = value.replace("T", " ").replace(/Z$/, "");
    return `timezone('UTC', CAST(${quoteLiteral(naive)} AS TIMESTAMP))`;
  }
  if (type === "binary") return `encode(${quoteLiteral(value)})`;
  return `CAST(${quoteLiteral(value)} AS ${duck})`;
}
