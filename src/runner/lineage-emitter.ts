import { appendFile, mkdir } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import type { ProjectContext } from "../run/project-context.js";
import { parsePostgresUrl } from "../warehouse/postgres-url.js";
import type { LineageNamespaces, RunEvent } from "./openlineage-events.js";

/** Sends OpenLineage events where `lineage:` says, in order; a failed delivery is a notice, never a failed run. */
export interface LineageEmitter {
  readonly namespaces: LineageNamespaces;
  emit(event: RunEvent): void;
  /** Resolves when every event emitted so far is written (or given up on). */
  flush(): Promise<void>;
}

const emitters = new WeakMap<ProjectContext, LineageEmitter | null>();

/**
 * The project's lineage emitter (one per project context, so events keep their order), or undefined
 * when `lineage:` is not configured. `{ file }` appends one JSON line per event (relative to
 * sluice.yaml); `{ url }` POSTs each event as JSON (5 s timeout).
 *
 * @example
 * lineageEmitter(ctx)?.emit(runEvent("START", {...}));
 */
export function lineageEmitter(ctx: ProjectContext): LineageEmitter | undefined {
  const known = emitters.get(ctx);
  if (known !== undefined) return known ?? undefined;
  const config = ctx.project.config.lineage;
  if (!config) {
    emitters.set(ctx, null);
    return undefined;
  }
  let chain: Promise<void> = Promise.resolve();
  const deliver = async (event: RunEvent): Promise<void> => {
    if ("file" in config) {
      const file = isAbsolute(config.file) ? config.file : resolve(ctx.project.rootDir, config.file);
      await mkdir(dirname(file), { recursive: true });
      await appendFile(file, `${JSON.stringify(event)}\n`);
      return;
    }
    const response = await fetch(config.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(event),
      signal: AbortSignal.timeout(5000),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
  };
  const emitter: LineageEmitter = {
    namespaces: lineageNamespaces(ctx),
    emit(event) {
      chain = chain.then(() =>
        deliver(event).catch((error: unknown) =>
          ctx.notice(
            `lineage: ${event.eventType} event of ${event.job.name} not delivered (${error instanceof Error ? error.message : String(error)})`,
          ),
        ),
      );
    },
    flush: () => chain,
  };
  emitters.set(ctx, emitter);
  return emitter;
}

/** OpenLineage namespaces of the project's landing zone, warehouse and lake (no credentials). */
export function lineageNamespaces(ctx: ProjectContext): LineageNamespaces {
  const location = (storage: ProjectContext["landing"], configured: string): string => {
    const local = storage.localPath("");
    if (local) return `file://${local}`;
    const u = new URL(configured);
    return `${u.protocol}//${u.host}${u.pathname}`.replace(/\/$/, "");
  };
  const { config } = ctx.project;
  let warehouse = `duckdb://${ctx.warehouseFile ?? ""}`;
  let warehousePrefix = "";
  if (!ctx.warehouseFile) {
    const { host, port, database } = parsePostgresUrl(config.warehouse).config;
    warehouse = `postgres://${host ?? "localhost"}:${port ?? 5432}`;
    warehousePrefix = `${database ?? "postgres"}.`;
  }
  return {
    landing: location(ctx.landing, config.landing),
    warehouse,
    warehousePrefix,
    lake: location(ctx.lake, config.lake),
  };
}
