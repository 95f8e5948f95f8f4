import { SluiceError } from "../errors.js";
import { quoteLiteral } from "../plan/sql-text.js";
import type { Storage } from "../storage/storage.js";
import type { Warehouse } from "../warehouse/warehouse.js";

/** One received version of a source file name, from the ledger. */
export interface FileVersion {
  /** 1 = the first version received. */
  readonly version: number;
  readonly received_at: string;
  readonly path: string;
  readonly pipeline: string;
  readonly size: number;
  readonly sha256: string;
  readonly run_id: string;
  readonly status: string;
  readonly archived_to: string | null;
}

/**
 * Every version of a source file Sluice has received, oldest first: `name` is a file name
 * (`orders.csv`, matched in any folder) or a landing-relative path (`in/orders/orders.csv`).
 *
 * @example
 * const versions = await fileVersions(warehouse, "orders.csv");
 */
export async function fileVersions(
  warehouse: Warehouse,
  name: string,
  pipeline?: string,
): Promise<FileVersion[]> {
  const clean = name.replace(/^\.?\//, "");
  const match = clean.includes("/")
    ? `path = ${quoteLiteral(clean)}`
    : `(path = ${quoteLiteral(clean)} OR suffix(path, ${quoteLiteral(`/${clean}`)}))`;
  const rows = await warehouse.query(
    `SELECT row_number() OVER (ORDER BY received_at, run_id, path) AS version,
        strftime(received_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') AS received_at,
        path, pipeline, size, sha256, run_id, status, archived_to
      FROM sluice.files
      WHERE ${match}${pipeline ? ` AND pipeline = ${quoteLiteral(pipeline)}` : ""}
        AND NOT starts_with(path, 'sql:') AND NOT starts_with(path, 'table:')
      ORDER BY version`,
  );
  return rows.map((r) => ({
    version: Number(r.version),
    received_at: String(r.received_at),
    path: String(r.path),
    pipeline: String(r.pipeline),
    size: Number(r.size),
    sha256: String(r.sha256),
    run_id: String(r.run_id),
    status: String(r.status),
    archived_to: (r.archived_to as string | null) ?? null,
  }));
}

/**
 * Copies an archived version back to the path it arrived under, so the next run (with `--force`, as
 * the content is already loaded) processes it again. Never overwrites a file waiting in the landing zone.
 *
 * @example
 * await restoreFileVersion(ctx.landing, versions[1]!);
 */
export async function restoreFileVersion(
  landing: Storage,
  version: FileVersion,
  to?: string,
): Promise<string> {
  if (!version.archived_to) {
    throw new SluiceError(
      "FILE_NOT_FOUND",
      `version ${version.version} of ${version.path} (${version.status}) was never archived, so it cannot be restored`,
    );
  }
  if (!(await landing.stat(version.archived_to))) {
    throw new SluiceError(
      "FILE_NOT_FOUND",
      `version ${version.version} of ${version.path}: its archive ${landing.root}/${version.archived_to} is gone`,
    );
  }
  const target = (to ?? version.path).replace(/^\.?\//, "");
  if (await landing.stat(target)) {
    throw new SluiceError(
      "USAGE",
      `${landing.root}/${target} already exists (a file waiting to be processed); process or move it first, or pass --to <path>`,
    );
  }
  await landing.copy(version.archived_to, target);
  return target;
}
