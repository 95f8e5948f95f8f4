/** Column names Sluice adds to every target row; source columns may not take them. */
export const metadataColumns = ["_sluice_run_id", "_sluice_source_file", "_sluice_loaded_at"] as const;

/**
 * Normalizes source column names: snake_case (default) or kept as they are, always unique
 * (ignoring case, as DuckDB's identifiers do: `E`, `e` → `E`, `e_2`) and non-empty. Pure.
 *
 * @example
 * normalizeColumnNames(["Order ID", "E-mail", "", "amount", "Amount"]) // => ["order_id", "e_mail", "column_3", "amount", "amount_2"]
 */
export function normalizeColumnNames(
  names: readonly (string | null | undefined)[],
  naming: "snake_case" | "keep" = "snake_case",
): string[] {
  const taken = new Set<string>(metadataColumns);
  return names.map((raw, index) => {
    const cleaned = stripBom(raw ?? "").trim();
    let base = naming === "keep" ? cleaned : toSnakeCase(cleaned);
    if (base === "") base = `column_${index + 1}`;
    let name = base;
    // DuckDB's identifiers ignore case: `E` and `e` are one column, kept names too.
    for (let n = 2; taken.has(name.toLowerCase()); n++) name = `${base}_${n}`;
    taken.add(name.toLowerCase());
    return name;
  });
}

/**
 * `Order ID` → `order_id`, `E-mail` → `e_mail`, `orderDate` → `order_date`, `HTTPStatus` → `http_status`.
 * Letters and digits of any script are kept; everything else separates words.
 */
export function toSnakeCase(name: string): string {
  return name
    .normalize("NFC")
    .replace(/([\p{Ll}\p{N}])(\p{Lu})/gu, "$1_$2")
    .replace(/(\p{Lu}+)(\p{Lu}\p{Ll})/gu, "$1_$2")
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, "_")
    .replace(/^_+|_+$/g, "");
}

function stripBom(name: string): string {
  // A UTF-8 BOM read as UTF-8 (U+FEFF) or as latin-1 (ï»¿).
  return name.replace(/^\uFEFF/, "").replace(/^\u00EF\u00BB\u00BF/, "");
}
