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

/** The query options a warehouse URL may carry. */
const knownOptions = ["sslmode", "application_name", "connect_timeout", "pool_max", "options"];
const sslModes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

/**
 * Parses `postgres://user:password@host:port/db?sslmode=require&pool_max=8`. Percent-encoded parts
 * are decoded; an unencoded `@`, `:` or `/` in the password still works (the host starts after the
 * last `@`). Query options: `sslmode` (disable, allow, prefer, require, verify-ca, verify-full),
 * `application_name`, `connect_timeout` (seconds), `pool_max`, `options`. A URL that cannot be meant
 * as written (a port that is not a number, an IPv6 address without its brackets, an unknown option or
 * option value) throws CONFIG_INVALID naming the part — never the password.
 *
 * @example
 * parsePostgresUrl("postgres://sluice:p%40ss@db:5432/warehouse").label // "sluice@db:5432/warehouse"
 */
export function parsePostgresUrl(url: string): PostgresTarget {
  const parsed = readPostgresUrl(url);
  if (typeof parsed === "string")
    throw new SluiceError("CONFIG_INVALID", `sluice.yaml: warehouse: ${parsed}`);
  return parsed;
}

/**
 * Why a `postgres://` URL cannot be used, as one sentence naming the bad part (never the password), or
 * undefined when it can. `sluice.yaml` is checked with it when it is loaded.
 *
 * @example
 * postgresUrlProblem("postgres://u:pw@db:54x2/w") // 'port "54x2" is not a number from 1 to 65535 ...'
 */
export function postgresUrlProblem(url: string): string | undefined {
  const parsed = readPostgresUrl(url);
  return typeof parsed === "string" ? parsed : undefined;
}

/** The parsed URL, or why it cannot be used (scrubbed of the password). */
function readPostgresUrl(url: string): PostgresTarget | string {
  const scheme = /^(postgres|postgresql):\/\//i.exec(url);
  if (!scheme) return "expected postgres://user@host:5432/db";
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
  const address = readHostPort(hostPort);
  if (typeof address === "string") return scrub(address, password);
  const params = new URLSearchParams(query);
  const options = readOptions(params);
  if (typeof options === "string") return scrub(options, password);
  const host = address.host || "localhost";
  const config: PoolConfig = {
    host,
    port: address.port,
    ...(user ? { user } : {}),
    ...(password ? { password } : {}),
    ...(database ? { database } : {}),
    application_name: params.get("application_name") ?? "sluice",
    max: options.poolMax,
    connectionTimeoutMillis: options.connectTimeoutSeconds * 1000,
    idleTimeoutMillis: 10_000,
  };
  const sslmode = params.get("sslmode");
  if (sslmode === "require" || sslmode === "prefer" || sslmode === "allow")
    config.ssl = { rejectUnauthorized: false };
  else if (sslmode === "verify-ca" || sslmode === "verify-full") config.ssl = { rejectUnauthorized: true };
  const serverOptions = params.get("options");
  if (serverOptions) config.options = serverOptions;
  const label = `${user ? `${user}@` : ""}${host}:${address.port}/${database || user || ""}`;
  return { config, label, secret: password };
}

/** `host`, `host:port`, `[ipv6]` or `[ipv6]:port`; or why not. */
function readHostPort(hostPort: string): { host: string; port: number } | string {
  let host: string;
  let port: string | undefined;
  if (hostPort.startsWith("[")) {
    const ipv6 = /^\[([^\]]+)\](?::(.*))?$/.exec(hostPort);
    if (!ipv6) return `host "${hostPort}" is missing the closing "]" of its IPv6 address (e.g. [::1]:5432)`;
    host = ipv6[1]!;
    port = ipv6[2];
  } else {
    const colons = hostPort.split(":").length - 1;
    if (colons > 1) {
      return `host "${hostPort}" looks like an IPv6 address: write it in brackets, e.g. [::1]:5432`;
    }
    const colon = hostPort.indexOf(":");
    host = decode(colon >= 0 ? hostPort.slice(0, colon) : hostPort);
    port = colon >= 0 ? hostPort.slice(colon + 1) : undefined;
    if (/[\s[\]]/.test(host)) return `host "${host}" is not a host name or address`;
  }
  if (port === undefined) return { host, port: 5432 };
  const n = Number(port);
  if (!/^\d+$/.test(port) || n < 1 || n > 65535) {
    return `port "${port}" is not a number from 1 to 65535 (host:port, e.g. ${host || "localhost"}:5432)`;
  }
  return { host, port: n };
}

/** The query options as numbers, or why one cannot be used. */
function readOptions(params: URLSearchParams): { poolMax: number; connectTimeoutSeconds: number } | string {
  for (const key of params.keys()) {
    if (!knownOptions.includes(key)) return `unknown option "${key}" (known: ${knownOptions.join(", ")})`;
  }
  const sslmode = params.get("sslmode");
  if (sslmode !== null && !sslModes.includes(sslmode)) {
    return `sslmode "${sslmode}" is not one of ${sslModes.join(", ")}`;
  }
  const poolMax = params.get("pool_max") ?? "4";
  if (!/^\d+$/.test(poolMax) || Number(poolMax) < 1) {
    return `pool_max "${poolMax}" is not a whole number of at least 1`;
  }
  const timeout = params.get("connect_timeout") ?? "10";
  if (!/^\d+$/.test(timeout)) return `connect_timeout "${timeout}" is not a whole number of seconds`;
  return { poolMax: Number(poolMax), connectTimeoutSeconds: Number(timeout) };
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
