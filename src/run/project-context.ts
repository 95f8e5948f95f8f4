import { isAbsolute, resolve } from "node:path";
import { parseDuration } from "../durations.js";
import type { EngineBoundary } from "../engine/engine-boundary.js";
import { SluiceError } from "../errors.js";
import type { Project } from "../project/load-config.js";
import { lazyStorage } from "../storage/lazy-storage.js";
import { localStorage } from "../storage/local-storage.js";
import { scratchRoot } from "../storage/scratch-dir.js";
import type { Storage } from "../storage/storage.js";
import { openDuckDbWarehouse } from "../warehouse/duckdb-warehouse.js";
import type { Warehouse } from "../warehouse/warehouse.js";

/** A project with its storages resolved and a way to open its warehouse. */
export interface ProjectContext {
  readonly project: Project;
  readonly landing: Storage;
  readonly lake: Storage;
  /** Where the embedded warehouse lives (undefined for PostgreSQL). */
  readonly warehouseFile: string | undefined;
  openWarehouse(options?: { readOnly?: boolean }): Promise<Warehouse>;
  /**
   * What SQL from the config or a query may reach in this project's engines: the landing zone and the
   * lake when they are local folders, and Sluice's scratch folder (downloads, staging).
   */
  engineBoundary(): EngineBoundary;
  /** Notices for a human (stderr); silent when the caller wants machine output only. */
  readonly notice: (message: string) => void;
}

/** Options for {@link createProjectContext}. */
export interface ProjectContextOptions {
  readonly notice?: (message: string) => void;
  /** Lock wait for the embedded warehouse, ms (default SLUICE_LOCK_WAIT or 120 s). */
  readonly lockWaitMs?: number;
}

/**
 * Resolves a loaded project's landing zone, lake and warehouse.
 *
 * @example
 * const ctx = createProjectContext(await loadProject());
 * const warehouse = await ctx.openWarehouse();
 */
export function createProjectContext(project: Project, options: ProjectContextOptions = {}): ProjectContext {
  const { config, rootDir } = project;
  const notice = options.notice ?? (() => undefined);
  const storageFor = (location: string, key: string): Storage => {
    if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(location.trim())) {
      return localStorage(isAbsolute(location) ? location : resolve(rootDir, location));
    }
    // Remote (or file://) locations: the S3 client is loaded on first use only.
    return lazyStorage(/^s3a?:/i.test(location) ? "s3" : "local", location, async () => {
      const { openStorage, s3OptionsFromConfig } = await import("../storage/open-storage.js");
      try {
        return openStorage(location, { baseDir: rootDir, s3Options: s3OptionsFromConfig(config.s3) });
      } catch (error) {
        if (error instanceof SluiceError && error.code === "CONFIG_INVALID") {
          throw new SluiceError("CONFIG_INVALID", `sluice.yaml: ${key}: ${error.message}`, { cause: error });
        }
        throw error;
      }
    });
  };
  const landing = storageFor(config.landing, "landing");
  const spec = config.warehouse;
  const lake = coordinatedLake(storageFor(config.lake, "lake"), spec);
  const warehouseFile = spec.startsWith("duckdb:")
    ? resolve(rootDir, spec.slice("duckdb:".length))
    : undefined;
  const lockWaitMs = options.lockWaitMs ?? parseLockWait(process.env.SLUICE_LOCK_WAIT);
  const engineBoundary = (): EngineBoundary => ({
    directories: [landing.localPath(""), lake.localPath(""), scratchRoot()].filter(
      (d): d is string => d !== undefined,
    ),
  });
  return {
    project,
    landing,
    lake,
    warehouseFile,
    notice,
    engineBoundary,
    async openWarehouse(open = {}) {
      if (warehouseFile) {
        return openDuckDbWarehouse({
          file: warehouseFile,
          readOnly: open.readOnly ?? false,
          waitMs: lockWaitMs,
          onWait: notice,
          boundary: engineBoundary(),
        });
      }
      // Loaded on demand: the PostgreSQL driver is not needed for (nor paid by) embedded projects.
      const { openPostgresWarehouse } = await import("../warehouse/postgres-warehouse.js");
      return openPostgresWarehouse({
        url: spec,
        readOnly: open.readOnly ?? false,
        onRetry: notice,
        boundary: engineBoundary(),
      });
    },
  };
}

/**
 * An S3 lake beside a PostgreSQL warehouse commits through the warehouse's coordination table: S3-compatible
 * stores without conditional writes cannot refuse a second writer of the same log entry. A local lake
 * needs none (an exclusive create is a hard link, which the file system makes atomic); nor does the
 * embedded warehouse, which has one writer.
 */
function coordinatedLake(lake: Storage, warehouse: string): Storage {
  if (lake.kind !== "s3" || !/^postgres(ql)?:\/\//i.test(warehouse)) return lake;
  return lazyStorage(lake.kind, lake.root, () =>
    Promise.all([
      import("../lake/coordinated-log-storage.js"),
      import("../warehouse/postgres-commit-coordinator.js"),
    ]).then(([{ coordinatedLogStorage }, { postgresCommitCoordinator }]) =>
      coordinatedLogStorage(lake, postgresCommitCoordinator(warehouse)),
    ),
  );
}

function parseLockWait(value: string | undefined): number {
  const text = value?.trim();
  if (!text) return 120_000;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  try {
    return parseDuration(text);
  } catch {
    return 120_000;
  }
}
