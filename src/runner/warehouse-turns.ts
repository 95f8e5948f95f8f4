import type { ProjectContext } from "../run/project-context.js";
import type { Warehouse } from "../warehouse/warehouse.js";

/** One writer at a time inside a process: each open of the warehouse waits until the previous is closed. */
export interface WarehouseTurns {
  /** The project context whose `openWarehouse` waits its turn: give it to every writer of the process. */
  readonly ctx: ProjectContext;
  /** How many opens are waiting for the warehouse now (a holder lets go when someone is). */
  waiting(): number;
}

/**
 * Makes the writers of one process (the watch queue's runs, the stream worker's batches) take turns with
 * the warehouse. DuckDB lets one process open a file twice, as two databases that do not know of each
 * other: two writers of `sluice watch` must never hold it at once. First come, first served; a holder that
 * keeps the warehouse between uses (the stream worker) asks `waiting()` and lets go after its use.
 *
 * @example
 * const turns = warehouseTurns(ctx);
 * const warehouse = await turns.ctx.openWarehouse(); // waits while another holds it
 */
export function warehouseTurns(ctx: ProjectContext): WarehouseTurns {
  let last: Promise<void> = Promise.resolve();
  let waiting = 0;
  const openWarehouse: ProjectContext["openWarehouse"] = async (options) => {
    let release!: () => void;
    const previous = last;
    last = new Promise((r) => {
      release = r;
    });
    waiting++;
    try {
      await previous;
    } finally {
      waiting--;
    }
    let warehouse: Warehouse;
    try {
      warehouse = await ctx.openWarehouse(options);
    } catch (error) {
      release();
      throw error;
    }
    let closed = false;
    return {
      ...warehouse,
      async close() {
        if (closed) return;
        closed = true;
        try {
          await warehouse.close();
        } finally {
          release();
        }
      },
    };
  };
  return { ctx: { ...ctx, openWarehouse }, waiting: () => waiting };
}
