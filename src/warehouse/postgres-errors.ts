import { firstLine, SluiceError } from "../errors.js";
import { scrub } from "./postgres-url.js";

const transientCodes = new Set(["40001", "40P01", "57P01", "57P02", "57P03", "53300", "53400", "55P03"]);
const transientNodeCodes = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);
const transientMessages =
  /Connection terminated|connection timeout|timeout expired|terminating connection|server closed the connection|Client has encountered a connection error|the database system is (starting up|shutting down|in recovery mode)/i;

/**
 * Whether a PostgreSQL or network error may go away on retry: connection loss (class 08, resets,
 * refusals), serialization failures and deadlocks, admin shutdown (`57P01`), too many connections.
 *
 * @example
 * isTransientPgError({ code: "40001" }) // true
 */
export function isTransientPgError(error: unknown): boolean {
  if (error instanceof SluiceError) return error.transient;
  const e = error as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === "string" ? e.code : "";
  if (code.startsWith("08") || transientCodes.has(code) || transientNodeCodes.has(code)) return true;
  return typeof e?.message === "string" && transientMessages.test(e.message);
}

/**
 * Wraps an error from PostgreSQL into a SluiceError that names the server (never the password) and
 * says what to do; transient ones are marked so.
 *
 * @example
 * throw pgError(error, "sluice@db:5432/warehouse", secret, "publish orders");
 */
export function pgError(error: unknown, label: string, secret: string, action: string): SluiceError {
  if (error instanceof SluiceError) {
    const message = scrub(error.message, secret);
    return message === error.message
      ? error
      : new SluiceError(error.code, message, { transient: error.transient, details: error.details });
  }
  const e = error as { code?: unknown; message?: unknown; detail?: unknown } | null;
  const code = typeof e?.code === "string" ? e.code : "";
  const raw = scrub(firstLine(typeof e?.message === "string" ? e.message : String(error)), secret);
  const where = `PostgreSQL ${label}`;
  const plain = { cause: scrubbedCause(error, secret) };
  if (code === "28P01" || code === "28000") {
    return new SluiceError(
      "WAREHOUSE_ERROR",
      `${where}: authentication failed (${raw}); check the user and password in the warehouse URL (e.g. \${PGPASSWORD})`,
      plain,
    );
  }
  if (code === "3D000") return new SluiceError("WAREHOUSE_ERROR", `${where}: ${raw}; create it first`, plain);
  // A catalog table missing: Sluice has not written to this database yet (what a missing DuckDB file
  // says too; commands that list runs, files or quarantine then report none).
  if (code === "42P01" && /relation "sluice\./.test(raw)) {
    return new SluiceError("WAREHOUSE_ERROR", `${where}: no warehouse yet (run \`sluice run\` first)`, plain);
  }
  if (code === "ENOTFOUND") {
    return new SluiceError("WAREHOUSE_ERROR", `${where}: host not found; check the warehouse URL`, plain);
  }
  if (code === "ECONNREFUSED") {
    return new SluiceError(
      "WAREHOUSE_ERROR",
      `${where}: connection refused during ${action} (is the server running, on this host and port?)`,
      {
        ...plain,
        transient: true,
      },
    );
  }
  if (isTransientPgError(error)) {
    return new SluiceError("WAREHOUSE_ERROR", `${where}: ${raw} during ${action}`, {
      ...plain,
      transient: true,
    });
  }
  const detail = typeof e?.detail === "string" ? ` (${scrub(e.detail, secret)})` : "";
  return new SluiceError("WAREHOUSE_ERROR", `${where}: ${action} failed: ${raw}${detail}`, plain);
}

function scrubbedCause(error: unknown, secret: string): unknown {
  if (!secret || !(error instanceof Error)) return error;
  const copy = new Error(scrub(error.message, secret));
  Object.assign(copy, { code: (error as { code?: unknown }).code });
  return copy;
}
