import { SluiceError } from "../errors.js";
import { duckdbDialect } from "../plan/duckdb-dialect.js";
import type { ProjectContext } from "../run/project-context.js";
import type { CatalogReader, Warehouse } from "../warehouse/warehouse.js";

/** How the dashboard reaches the warehouse without ever opening the embedded file twice in one process. */
export interface WarehouseGate {
  /** The project context whose `openWarehouse` (read-write) passes through the gate: give it to runs. */
  readonly ctx: ProjectContext;
  /** Runs `read` against the catalog; a warehouse not created yet reads as empty. */
  read<T>(read: (reader: CatalogReader) => Promise<T>): Promise<T>;
  /** Opens the embedded file ahead of the first page (let go as after any read); no-op on PostgreSQL. */
  warm(): void;
  /** The open PostgreSQL warehouse of the dashboard (its pool statistics), if any. */
  readonly pooled: () => Warehouse | undefined;
  close(): Promise<void>;
}

const LINGER_MS = 1500;
const EMPTY: CatalogReader = {
  kind: "duckdb",
  dialect: duckdbDialect,
  query: async () => [],
  history: async () => [],
};

/**
 * Serializes warehouse use inside one process. PostgreSQL: one read-only warehouse kept open for all
 * reads. Embedded DuckDB (one process may open the file once): a read while this process writes (a run
 * of `watch --serve`, a replay) uses a second connection of the writer; otherwise the file is opened
 * read-only for that read and let go, so other processes can take it between requests. A write waits
 * for reads in flight, and reads wait for a write being opened.
 *
 * @example
 * const gate = createWarehouseGate(ctx);
 * const runs = await gate.read((r) => listRuns(r, { limit: 20 }));
 */
export function createWarehouseGate(ctx: ProjectContext): WarehouseGate {
  let held: Warehouse | undefined;
  let writeQueue: Promise<void> = Promise.resolve();
  let opening: Promise<void> | undefined;
  let readers = 0;
  let readersIdle: (() => void) | undefined;
  let pg: Promise<Warehouse> | undefined;

  const openWrite = async (): Promise<Warehouse> => {
    let release!: () => void;
    const previous = writeQueue;
    writeQueue = new Promise((r) => {
      release = r;
    });
    await previous;
    let opened!: () => void;
    opening = new Promise((r) => {
      opened = r;
    });
    try {
      while (readers > 0) await new Promise<void>((r) => (readersIdle = r));
      await letGo();
      const warehouse = await ctx.openWarehouse();
      held = warehouse;
      return {
        ...warehouse,
        async close() {
          held = undefined;
          try {
            await warehouse.close();
          } finally {
            release();
          }
        },
      };
    } catch (error) {
      release();
      throw error;
    } finally {
      opening = undefined;
      opened();
    }
  };

  const readEmbedded = async <T>(read: (reader: CatalogReader) => Promise<T>): Promise<T> => {
    while (opening) await opening;
    if (held?.reader) {
      const reader = await held.reader();
      try {
        return await read(reader);
      } finally {
        await reader.close();
      }
    }
    readers++;
    try {
      let warehouse: Warehouse;
      try {
        warehouse = await shared();
      } catch (error) {
        if (notYet(error)) return await read(EMPTY);
        throw error;
      }
      return await read(warehouse);
    } finally {
      readers--;
      if (readers === 0) {
        readersIdle?.();
        lingerTimer = setTimeout(() => void letGo(), LINGER_MS).unref();
      }
    }
  };

  // A page asks a few questions in a row: the read-only file stays open for a moment after the last read,
  // then is let go so other processes can take the warehouse.
  let sharedRead: Promise<Warehouse> | undefined;
  let lingerTimer: NodeJS.Timeout | undefined;
  const shared = (): Promise<Warehouse> => {
    clearTimeout(lingerTimer);
    sharedRead ??= ctx.openWarehouse({ readOnly: true });
    sharedRead.catch(() => {
      sharedRead = undefined;
    });
    return sharedRead;
  };
  const letGo = async (): Promise<void> => {
    clearTimeout(lingerTimer);
    const open = sharedRead;
    sharedRead = undefined;
    await (await open?.catch(() => undefined))?.close();
  };

  const gated: ProjectContext = {
    ...ctx,
    openWarehouse: (options) => (options?.readOnly ? ctx.openWarehouse(options) : openWrite()),
  };
  let pgWarehouse: Warehouse | undefined;
  return {
    ctx: gated,
    async read(read) {
      try {
        if (ctx.warehouseFile) return await readEmbedded(read);
        pg ??= ctx.openWarehouse({ readOnly: true }).then((w) => {
          pgWarehouse = w;
          return w;
        });
        pg.catch(() => {
          pg = undefined;
        });
        return await read(await pg);
      } catch (error) {
        if (notYet(error)) return await read(EMPTY);
        throw error;
      }
    },
    warm() {
      if (ctx.warehouseFile) void readEmbedded(async () => undefined).catch(() => undefined);
    },
    pooled: () => pgWarehouse,
    async close() {
      await writeQueue;
      await letGo();
      if (pg) await (await pg.catch(() => undefined))?.close();
    },
  };
}

function notYet(error: unknown): boolean {
  return error instanceof SluiceError && /no warehouse yet/.test(error.message);
}
