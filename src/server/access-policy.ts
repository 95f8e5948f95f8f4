import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { SluiceError } from "../errors.js";

/** Who may use the dashboard: the token (if any), whether it listens on loopback only, the CSRF secret. */
export interface AccessPolicy {
  readonly token: string | undefined;
  readonly loopback: boolean;
  readonly csrfSecret: Buffer;
}

const LOOPBACK_NAMES = new Set(["127.0.0.1", "::1", "[::1]", "localhost"]);

/** Whether a listen host (or a Host header's name) is the loopback interface. */
export function isLoopback(host: string): boolean {
  return LOOPBACK_NAMES.has(host.toLowerCase()) || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * The access policy for a listen host: any host but loopback needs `SLUICE_TOKEN` (a USAGE error
 * otherwise, before anything listens).
 *
 * @example
 * const policy = accessPolicy("0.0.0.0", process.env.SLUICE_TOKEN);
 */
export function accessPolicy(host: string, token: string | undefined): AccessPolicy {
  const loopback = isLoopback(host);
  const t = token?.trim() || undefined;
  if (!loopback && !t) {
    throw new SluiceError(
      "USAGE",
      `--host ${host}: serving beyond this machine needs a token; set SLUICE_TOKEN (or use --host 127.0.0.1)`,
    );
  }
  return { token: t, loopback, csrfSecret: randomBytes(32) };
}

/** The CSRF token forms carry (derived from the process's secret; unreadable cross-origin). */
export function csrfToken(policy: AccessPolicy): string {
  return createHmac("sha256", policy.csrfSecret).update("sluice-csrf").digest("hex");
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const COOKIE = "sluice_token";

/** A 4xx/5xx answer: JSON under /api/ and /metrics, a short page elsewhere. */
export function refuse(c: Context, status: 400 | 401 | 403 | 404 | 405 | 503, code: string, message: string) {
  if (c.req.path.startsWith("/api/") || c.req.path === "/metrics") {
    return c.json({ error: { code, message } }, status);
  }
  return c.html(
    `<!doctype html><html><head><title>${status}</title><link rel="stylesheet" href="/assets/sluice.css"></head><body><main><h1>${status}</h1><p class="error">${message.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)}</p></main></body></html>`,
    status,
  );
}

/**
 * Checks every request: on loopback without a token, the Host header must name loopback (a page of
 * another site reaching it through DNS rebinding is refused); with a token, the request must carry it
 * (`Authorization: Bearer`, the cookie set by a first visit with `?token=`, or that query parameter).
 */
export function accessMiddleware(policy: AccessPolicy): MiddlewareHandler {
  return async (c, next) => {
    const hostHeader = c.req.header("host") ?? "";
    const hostName = hostHeader.replace(/:\d+$/, "");
    if (policy.loopback && !isLoopback(hostName)) {
      return refuse(c, 403, "FORBIDDEN", `Host ${hostHeader}: this dashboard answers on loopback names only`);
    }
    if (!policy.token) return next();
    const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "")?.[1]?.trim();
    const fromQuery = c.req.query("token");
    const presented = bearer ?? fromQuery ?? getCookie(c, COOKIE);
    if (!presented || !same(presented, policy.token)) {
      return refuse(
        c,
        401,
        "UNAUTHORIZED",
        "this dashboard needs its token: open it once with ?token=<SLUICE_TOKEN> or send Authorization: Bearer <SLUICE_TOKEN>",
      );
    }
    if (fromQuery && !bearer && c.req.method === "GET") {
      // Keep the token out of the address bar and history: a strict, HTTP-only cookie carries it from now on.
      setCookie(c, COOKIE, policy.token, { httpOnly: true, sameSite: "Strict", path: "/" });
      const url = new URL(c.req.url);
      url.searchParams.delete("token");
      // One leading slash: a path of `//other.host/` would otherwise redirect to another site.
      return c.redirect(`${url.pathname.replace(/^\/+/, "/")}${url.search}`, 303);
    }
    c.set("bearer" as never, Boolean(bearer) as never);
    return next();
  };
}

/**
 * Whether a state-changing POST is safe: a request authenticated by `Authorization: Bearer` (no browser
 * sends that on its own), or a form carrying the CSRF token from the same origin.
 */
export function csrfOk(c: Context, policy: AccessPolicy, formToken: string | undefined): boolean {
  if (policy.token && c.get("bearer" as never)) return true;
  const site = c.req.header("sec-fetch-site");
  if (site && site !== "same-origin" && site !== "none") return false;
  const origin = c.req.header("origin");
  if (origin && origin !== "null") {
    try {
      if (new URL(origin).host !== c.req.header("host")) return false;
    } catch {
      return false;
    }
  }
  const presented = formToken ?? c.req.header("x-sluice-csrf");
  return presented !== undefined && same(presented, csrfToken(policy));
}
