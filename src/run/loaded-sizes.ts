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

function query(run: RunContext, sizes: readonly number[]): Promise<ReadonlySet<number>> {
  return run.warehouse.loadedSizesAmong(run.name, sizes);
}
