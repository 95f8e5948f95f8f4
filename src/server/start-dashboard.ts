import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import type { ProjectContext } from "../run/project-context.js";
import { accessPolicy } from "./access-policy.js";
import { createDashboardApp } from "./dashboard-app.js";
import { createDashboardMetrics } from "./dashboard-metrics.js";
import { createLiveRuns, type LiveRuns } from "./live-runs.js";
import { createWarehouseGate, type WarehouseGate } from "./warehouse-gate.js";

/** A listening dashboard. */
export interface Dashboard {
  readonly url: string;
  /** The gate runs of this process must open the warehouse through (its `ctx`). */
  readonly gate: WarehouseGate;
  readonly live: LiveRuns;
  close(): Promise<void>;
}

/**
 * Starts the dashboard on host:port (port 0 picks a free one). Any host but loopback needs a token
 * (USAGE error before anything listens).
 *
 * @example
 * const dashboard = await startDashboard(ctx, { host: "127.0.0.1", port: 8321, token: process.env.SLUICE_TOKEN });
 */
export async function startDashboard(
  ctx: ProjectContext,
  options: { host: string; port: number; token?: string | undefined },
): Promise<Dashboard> {
  const policy = accessPolicy(options.host, options.token);
  const gate = createWarehouseGate(ctx);
  const live = createLiveRuns();
  const app = createDashboardApp({ gate, live, policy, metrics: createDashboardMetrics() });
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: options.host, port: options.port }, () => resolve(s));
    s.once("error", reject);
  });
  // Opening the embedded file costs the first page; started now, it overlaps the first browser's connect.
  gate.warm();
  const address = server.address() as AddressInfo;
  const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}`,
    gate,
    live,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Browsers keep connections open; they must not hold the process.
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await gate.close();
    },
  };
}
