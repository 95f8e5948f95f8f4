import type { PoolConfig } from "pg";
import { SluiceError } from "../errors.js";

/** A parsed `postgres://` warehouse URL: pool configuration plus a password-free label for messages. */
export interface PostgresTarget {
  readonly config: PoolConfig;
  /** `user@host:port/db` — never contains the password. */
  readonly label: string;
  /** The password (to scrub from any message); empty when none. */
  readonly secret: string;
}

const decode = (text: string): string => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/**
 * Parses `postgres://user:password@host:port/db?sslmode=require&pool_max=8`. Percent-encoded parts
 * are decoded; an unencoded `@`, `:` or `/` in the password still works (the host starts after the
 * last `@`). Query options: `sslmode` (disable, prefer, require, verify-ca, verify-full),
 * `application_name`, `connect_timeout` (seconds), `pool_max`, `options`.
 *
 * @example
 * parsePostgresUrl("postgres://sluice:p%40ss@db:5432/warehouse").label // "sluice@db:5432/warehouse"
 */
export function parsePostgresUrl(url: string): PostgresTarget {
  const scheme = /^(postgres|postgresql):\/\//i.exec(url);
  if (!scheme) {
    throw new SluiceError("CONFIG_INVALID", "sluice.yaml: warehouse: expected postgres://user@host:5432/db");
  }
  let rest = url.slice(scheme[0].length);
  let query = "";
  const at = rest.lastIndexOf("@");
  const q = rest.indexOf("?", at + 1);
  if (q >= 0) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  const userinfo = at >= 0 ? rest.slice(0, at) : "";
  const hostPart = at >= 0 ? rest.slice(at + 1) : rest;
  const colon = userinfo.indexOf(":");
  const user = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo);
  const password = colon >= 0 ? decode(userinfo.slice(colon + 1)) : "";
  const slash = hostPart.indexOf("/");
  const hostPort = slash >= 0 ? hostPart.slice(0, slash) : hostPart;
  const database = slash >= 0 ? decode(hostPart.slice(slash + 1)) : "";
  const ipv6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostPort);
  const plain = /^([^:]*)(?::(\d+))?$/.exec(hostPort);
  const host = decode(ipv6?.[1] ?? plain?.[1] ?? hostPort) || "localhost";
  const port = Number(ipv6?.[2] ?? plain?.[2] ?? 5432);
  const params = new URLSearchParams(query);
  const config: PoolConfig = {
    host,
    port,
    ...(user ? { user } : {}),
    ...(password ? { password } : {}),
    ...(database ? { database } : {}),
    application_name: params.get("application_name") ?? "sluice",
    max: Number(params.get("pool_max") ?? 4),
    connectionTimeoutMillis: Number(params.get("connect_timeout") ?? 10) * 1000,
    idleTimeoutMillis: 10_000,
  };
  const sslmode = params.get("sslmode");
  if (sslmode === "require" || sslmode === "prefer" || sslmode === "allow")
    config.ssl = { rejectUnauthorized: false };
  else if (sslmode === "verify-ca" || sslmode === "verify-full") config.ssl = { rejectUnauthorized: true };
  const options = params.get("options");
  if (options) config.options = options;
  const label = `${user ? `${user}@` : ""}${host}:${port}/${database || user || ""}`;
  return { config, label, secret: password };
}

/**
 * Replaces every occurrence of the secret (raw and percent-encoded) in a message with `***`.
 *
 * @example
 * scrub("failed: postgres://u:s3cret@h/db", "s3cret") // "failed: postgres://u:***@h/db"
 */
export function scrub(message: string, secret: string): string {
  if (!secret) return message;
  let out = message;
  for (const form of new Set([secret, encodeURIComponent(secret)])) out = out.split(form).join("***");
  return out;
}
