import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeProject, sluice } from "../support/cli.js";
import { type ServedDashboard, startServed } from "../support/dashboard.js";

const yaml = `warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  orders:
    source: { path: "in/orders/*.csv" }
    target: { table: orders }
`;

describe("sluice serve beyond loopback", () => {
  it("refuses a non-loopback host without SLUICE_TOKEN (exit 2, one clear line)", async () => {
    const dir = makeProject(yaml);
    const r = await sluice(["serve", "--host", "0.0.0.0", "--port", "0"], dir, { env: { SLUICE_TOKEN: "" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--host 0\.0\.0\.0: .*SLUICE_TOKEN/);
  });

  describe("with a token", () => {
    let served: ServedDashboard;
    const token = "s3cret-token-for-tests";
    beforeAll(async () => {
      served = await startServed(makeProject(yaml), ["serve", "--host", "0.0.0.0", "--port", "0"], {
        SLUICE_TOKEN: token,
      });
    });
    afterAll(async () => {
      await served?.stop();
    });
    const url = (path: string) => `${served.url.replace("0.0.0.0", "127.0.0.1")}${path}`;

    it("checks it on every request: API, pages, /metrics and assets", async () => {
      for (const path of ["/api/runs", "/runs", "/metrics", "/assets/sluice.css"]) {
        const r = await fetch(url(path));
        expect(r.status, path).toBe(401);
        const wrong = await fetch(url(path), { headers: { authorization: "Bearer nope" } });
        expect(wrong.status, path).toBe(401);
        const right = await fetch(url(path), { headers: { authorization: `Bearer ${token}` } });
        expect(right.status, path).toBe(200);
      }
      expect(
        await (await fetch(url("/api/runs"), { headers: { authorization: `Bearer ${token}` } })).json(),
      ).toEqual({
        runs: [],
      });
    });

    it("a first visit with ?token= sets a strict HTTP-only cookie and drops the token from the address", async () => {
      const first = await fetch(url(`/runs?token=${token}&status=failed`), { redirect: "manual" });
      expect(first.status).toBe(303);
      expect(first.headers.get("location")).toBe("/runs?status=failed");
      const cookie = first.headers.get("set-cookie") ?? "";
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Strict/);
      const next = await fetch(url("/runs"), { headers: { cookie: cookie.split(";")[0]! } });
      expect(next.status).toBe(200);
    });

    it("the redirect after ?token= stays on the dashboard (a path of //other.host is not another site)", async () => {
      for (const path of ["//evil.example/", "///evil.example/x?a=1"]) {
        const r = await fetch(url(`${path}${path.includes("?") ? "&" : "?"}token=${token}`), {
          redirect: "manual",
        });
        expect(r.status, path).toBe(303);
        const location = r.headers.get("location") ?? "";
        expect(location, path).toMatch(/^\/[^/\\]/);
        expect(new URL(location, url("/")).host, path).toBe(new URL(url("/")).host);
        expect(location, path).not.toContain("token");
      }
    });
  });
});
