import type { Command } from "commander";
import { SluiceError } from "../../errors.js";
import { type GlobalOptions, openProject } from "../command-context.js";
import { createOutput } from "../output.js";

/** The listen options `serve` and `watch --serve` share. */
export function listenOptions(opts: { port?: string; host?: string }): { host: string; port: number } {
  const port = Number(opts.port ?? "8321");
  if (!/^\d+$/.test(opts.port ?? "8321") || port > 65535) {
    throw new SluiceError("USAGE", `--port ${opts.port}: expected a port number (0-65535)`);
  }
  return { host: opts.host ?? "127.0.0.1", port };
}

/** `sluice serve [--port 8321] [--host 127.0.0.1]` */
export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description(
      "web dashboard, JSON API under /api/ and Prometheus /metrics (any host but loopback needs SLUICE_TOKEN)",
    )
    .option("--port <port>", "port to listen on (0: any free port)", "8321")
    .option("--host <host>", "interface to listen on", "127.0.0.1")
    .action(async (opts: { port: string; host: string }, cmd: Command) => {
      const output = createOutput(false);
      const listen = listenOptions(opts);
      const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output, "reads");
      // Loaded on demand: the server, its libraries and prom-client are not paid for by other commands.
      const { startDashboard } = await import("../../server/start-dashboard.js");
      const dashboard = await startDashboard(ctx, { ...listen, token: process.env.SLUICE_TOKEN });
      output.notice(`dashboard at ${dashboard.url}/ (Ctrl-C to stop)`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      await dashboard.close();
      process.exitCode = 0;
    });
}
