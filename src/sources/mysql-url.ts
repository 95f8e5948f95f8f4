/** A parsed `mysql://` (or `mariadb://`) source URL: connection options plus a password-free label. */
export interface MysqlTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** `MySQL user@host:port/db`: never the password. */
  readonly label: string;
}

const decode = (text: string): string => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/**
 * Parses `mysql://user:password@host:3306/db` (percent-encoding decoded; the host starts after the last
 * `@`, so an unencoded `@` in the password works). Returns why it cannot be used, never naming the
 * password.
 *
 * @example
 * parseMysqlUrl("mysql://root@127.0.0.1:3306/shop") // { host: "127.0.0.1", port: 3306, user: "root", ... }
 */
export function parseMysqlUrl(url: string): MysqlTarget | { readonly problem: string } {
  const scheme = /^(mysql|mariadb):\/\//i.exec(url);
  if (!scheme) return { problem: "expected mysql://user@host:3306/db" };
  const rest = url.slice(scheme[0].length);
  const at = rest.lastIndexOf("@");
  const userinfo = at >= 0 ? rest.slice(0, at) : "";
  const hostPart = at >= 0 ? rest.slice(at + 1) : rest;
  const colon = userinfo.indexOf(":");
  const user = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo);
  const password = colon >= 0 ? decode(userinfo.slice(colon + 1)) : "";
  if (hostPart.includes("?")) return { problem: "a mysql:// source takes no options after `?`" };
  const slash = hostPart.indexOf("/");
  const hostPort = slash >= 0 ? hostPart.slice(0, slash) : hostPart;
  const database = slash >= 0 ? decode(hostPart.slice(slash + 1)) : "";
  const [host = "", port] = hostPort.split(":");
  if (port !== undefined && (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    return {
      problem: `port "${port}" is not a number from 1 to 65535 (host:port, e.g. ${host || "localhost"}:3306)`,
    };
  }
  if (database === "")
    return { problem: "name the database after the host, e.g. mysql://root@127.0.0.1:3306/shop" };
  const at2 = host || "localhost";
  const portNumber = port === undefined ? 3306 : Number(port);
  return {
    host: at2,
    port: portNumber,
    user: user || "root",
    password,
    database,
    label: `MySQL ${user || "root"}@${at2}:${portNumber}/${database}`,
  };
}
