import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Hono } from "hono";
import { asSluiceError, firstLine } from "../errors.js";
import { accessMiddleware, refuse } from "./access-policy.js";
import { registerActionRoutes } from "./action-routes.js";
import { registerApiRoutes } from "./api-routes.js";
import type { DashboardDeps } from "./dashboard-deps.js";
import { CHARTS_SCRIPT } from "./insight-pages.js";
import { STYLESHEET } from "./layout.js";
import { registerPageRoutes } from "./page-routes.js";
import { httpStatus } from "./request-params.js";

/** uPlot's files, from the installed package (read once, on first request). */
function packageAsset(path: string): () => string {
  let text: string | undefined;
  return () => {
    text ??= readFileSync(createRequire(import.meta.url).resolve(path), "utf8");
    return text;
  };
}

const ASSETS: Record<string, { type: string; body: () => string }> = {
  "sluice.css": { type: "text/css; charset=utf-8", body: () => STYLESHEET },
  "charts.js": { type: "text/javascript; charset=utf-8", body: () => CHARTS_SCRIPT },
  "uplot.js": { type: "text/javascript; charset=utf-8", body: packageAsset("uplot/dist/uPlot.iife.min.js") },
  "uplot.css": { type: "text/css; charset=utf-8", body: packageAsset("uplot/dist/uPlot.min.css") },
};

/**
 * The dashboard as a Hono app: access checks on every request, strict security headers, assets from
 * the package, pages, the JSON API, /metrics, and replay/rollback. Errors answer as clear 4xx/5xx (JSON
 * under /api/), never a stack trace.
 *
 * @example
 * const app = createDashboardApp(deps); serve({ fetch: app.fetch, port: 8321 });
 */
export function createDashboardApp(deps: DashboardDeps): Hono {
  const app = new Hono();
  app.use(async (c, next) => {
    await next();
    c.header(
      "content-security-policy",
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    );
    c.header("x-content-type-options", "nosniff");
    c.header("referrer-policy", "no-referrer");
    c.header("cache-control", "no-store");
  });
  app.use(accessMiddleware(deps.policy));
  app.get("/assets/:name", (c) => {
    const asset = ASSETS[c.req.param("name")];
    if (!asset) return refuse(c, 404, "NOT_FOUND", `no asset ${c.req.param("name")}`);
    return c.body(asset.body(), 200, { "content-type": asset.type });
  });
  registerApiRoutes(app, deps);
  registerActionRoutes(app, deps);
  registerPageRoutes(app, deps);
  app.notFound((c) => refuse(c, 404, "NOT_FOUND", `no such page: ${c.req.method} ${c.req.path}`));
  app.onError((error, c) => {
    const e = asSluiceError(error);
    const status = httpStatus(e.code);
    const message = firstLine(e.message);
    if (c.req.path.startsWith("/api/") || c.req.path === "/metrics") {
      return c.json({ error: { code: e.code, message } }, status);
    }
    return c.html(
      `<!doctype html><html><head><title>${status}</title><link rel="stylesheet" href="/assets/sluice.css"></head><body><main><h1>${status}</h1><p class="error">${message.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)}</p><p><a href="/runs">Runs</a></p></main></body></html>`,
      status,
    );
  });
  return app;
}
