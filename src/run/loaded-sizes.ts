import { quoteLiteral } from "../plan/sql-text.js";
import type { RunContext } from "./run-context.js";

/**
 * The sizes among a run's files that the ledger holds loaded content of, asked once for the whole run
 * (not once per file): content can only repeat a loaded file of the same size, so a file of any other
 * size needs no ledger look-up before it is read. Content another process loads meanwhile is caught by
 * the publish, which checks every file's hash against the ledger inside its transaction.
 *
 * @example
 * const sizes = loadedSizes(units); if (!(await sizes(run)).has(entry.size)) { ... }
 */
export function loadedSizes(
  units: readonly { readonly size: number }[],
): (run: RunContext) => Promise<ReadonlySet<number>> {
  let known: Promise<ReadonlySet<number>> | undefined;
  return (run) => {
    known ??= query(run, [...new Set(units.map((u) => Math.trunc(u.size)))]);
    return known;
  };
}

async function query(run: RunContext, sizes: readonly number[]): Promise<ReadonlySet<number>> {
  const found = new Set<number>();
  // Chunks keep each statement short whatever the number of files.
  for (let at = 0; at < sizes.length; at += 1000) {
    const list = sizes.slice(at, at + 1000).join(", ");
    const rows = await run.warehouse.query(
      `SELECT DISTINCT size FROM sluice.files WHERE pipeline = ${quoteLiteral(run.name)} AND status = 'loaded' AND size IN (${list})`,
    );
    for (const row of rows) found.add(Number(row.size));
  }
  return found;
}
