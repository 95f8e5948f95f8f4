import { firstLine, SluiceError } from "../errors.js";
import { scrub } from "../warehouse/postgres-url.js";

/** How one database's driver reports a refused login and a failure worth retrying. */
export interface ExtractErrorKinds {
  /** Driver codes of a refused login. */
  readonly denied: ReadonlySet<string>;
  /** A lost connection, restart or similar: retried by the run's policy. */
  transient(error: unknown, code: string, message: string): boolean;
}

/**
 * An error of a database source as one line naming the server (`label`), never the password
 * (`secret` is scrubbed): a refused login says to check the URL's user and password; transient
 * failures are marked so (the extract is read again whole, so nothing is doubled).
 *
 * @example
 * throw extractError(error, "PostgreSQL app@db:5432/shop", password, POSTGRES_KINDS);
 */
export function extractError(
  error: unknown,
  label: string,
  secret: string,
  kinds: ExtractErrorKinds,
): SluiceError {
  if (error instanceof SluiceError) {
    const message = scrub(error.message, secret);
    return message === error.message
      ? error
      : new SluiceError(error.code, message, { transient: error.transient });
  }
  const e = error as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === "string" ? e.code : "";
  const raw = scrub(firstLine(typeof e?.message === "string" ? e.message : String(error)), secret);
  if (kinds.denied.has(code)) {
    return new SluiceError(
      "QUERY_FAILED",
      `${label}: authentication failed (${raw}); check the user and password in source.database`,
    );
  }
  if (code === "ENOTFOUND")
    return new SluiceError("QUERY_FAILED", `${label}: host not found; check source.database`);
  if (kinds.transient(error, code, raw)) {
    return new SluiceError("QUERY_FAILED", `${label}: ${raw} during the extract`, { transient: true });
  }
  return new SluiceError("QUERY_FAILED", `${label}: extract failed: ${raw}`);
}
