import type { RecordedLineage } from "../catalog/recorded-lineage.js";
import type { ProjectConfig } from "../config/schema.js";
import { databaseSourcePath } from "../sources/stage-database-source.js";
import { html, type SafeHtml } from "./html.js";

/** A node of the project's lineage: landing files (a glob), a query, a pipeline, a table or lake table. */
export interface LineageNode {
  readonly id: string;
  readonly kind: "files" | "query" | "database" | "stream" | "pipeline" | "table" | "lake";
  readonly label: string;
  /** Left-to-right column of the drawing. */
  readonly column: number;
  /** Where the node is known from: sluice.yaml, the recorded runs, or both. */
  origin?: LineageOrigin;
}

/** `config`: declared in sluice.yaml, never seen in a run; `runs`: recorded only (since removed from the config). */
export type LineageOrigin = "config" | "runs" | "both";

/** An edge of the graph, with what the recorded runs moved along it. */
export interface LineageEdge {
  readonly from: string;
  readonly to: string;
  origin?: LineageOrigin;
  /** Files → pipeline: files loaded and their rows; pipeline → table: loads and rows inserted. */
  recorded?: { files?: number; loads?: number; rows: number; last_at: string };
}

/** The lineage graph: what flows into what. */
export interface LineageGraph {
  readonly nodes: LineageNode[];
  readonly edges: LineageEdge[];
}

/**
 * Lineage from the configuration: landing files (or a query, a stream) → pipeline → warehouse and lake
 * tables → pipelines reading those tables or depending on the pipeline. Pure.
 *
 * @example
 * const { nodes, edges } = lineageGraph(project.config);
 */
export function lineageGraph(config: ProjectConfig): LineageGraph {
  const pipelines = config.pipelines;
  const depth = new Map<string, number>();
  const tableOf = (name: string) => pipelines[name]?.target.table;
  const producers = (table: string) => Object.keys(pipelines).filter((n) => tableOf(n) === table);
  const depthOf = (name: string, seen: Set<string> = new Set()): number => {
    if (depth.has(name)) return depth.get(name)!;
    if (seen.has(name)) return 0;
    seen.add(name);
    const p = pipelines[name]!;
    const upstream = "table" in p.source && !("database" in p.source) ? p.source.table : undefined;
    const ups = [...p.depends_on, ...(upstream ? producers(upstream) : [])].filter(
      (u) => u !== name && pipelines[u],
    );
    const d = ups.length === 0 ? 0 : Math.max(...ups.map((u) => depthOf(u, seen))) + 1;
    depth.set(name, d);
    return d;
  };
  const nodes = new Map<string, LineageNode>();
  const edges: LineageEdge[] = [];
  const add = (node: LineageNode) => {
    if (!nodes.has(node.id)) nodes.set(node.id, node);
  };
  for (const [name, p] of Object.entries(pipelines)) {
    const col = depthOf(name) * 2 + 1;
    add({ id: `pipeline:${name}`, kind: "pipeline", label: name, column: col });
    const source = p.source;
    if ("path" in source) {
      add({ id: `files:${source.path}`, kind: "files", label: source.path, column: 0 });
      edges.push({ from: `files:${source.path}`, to: `pipeline:${name}` });
    } else if ("sql" in source) {
      add({ id: `query:${name}`, kind: "query", label: "SQL query", column: col - 1 });
      edges.push({ from: `query:${name}`, to: `pipeline:${name}` });
    } else if ("stream" in source) {
      add({ id: `stream:${name}`, kind: "stream", label: `stream (${source.stream.kind})`, column: 0 });
      edges.push({ from: `stream:${name}`, to: `pipeline:${name}` });
    } else if ("database" in source) {
      const label = databaseSourcePath(name, source);
      add({ id: `database:${label}`, kind: "database", label, column: 0 });
      edges.push({ from: `database:${label}`, to: `pipeline:${name}` });
    } else if ("table" in source) {
      add({ id: `table:${source.table}`, kind: "table", label: source.table, column: col - 1 });
      edges.push({ from: `table:${source.table}`, to: `pipeline:${name}` });
    }
    if (p.target.table) {
      add({ id: `table:${p.target.table}`, kind: "table", label: p.target.table, column: col + 1 });
      edges.push({ from: `pipeline:${name}`, to: `table:${p.target.table}` });
    }
    if (p.target.lake) {
      add({
        id: `lake:${p.target.lake.table}`,
        kind: "lake",
        label: `lake.${p.target.lake.table}`,
        column: col + 1,
      });
      edges.push({ from: `pipeline:${name}`, to: `lake:${p.target.lake.table}` });
    }
  }
  for (const [name, p] of Object.entries(pipelines)) {
    for (const up of p.depends_on) {
      if (pipelines[up] && !edges.some((e) => e.to === `pipeline:${name}` && e.from.startsWith("table:"))) {
        edges.push({ from: `pipeline:${up}`, to: `pipeline:${name}` });
      }
    }
  }
  return { nodes: [...nodes.values()], edges };
}

/**
 * The configured graph with what the recorded runs prove laid over it: the files each pipeline loaded
 * (from the ledger) and the tables it loaded (from the load history), marked `both` where they match the
 * configuration, `runs` where only a run recorded them (a pipeline or a target since changed), and
 * `config` where nothing has run yet. Pure.
 *
 * @example
 * const graph = recordedLineageGraph(project.config, await recordedLineage(warehouse));
 */
export function recordedLineageGraph(config: ProjectConfig, recorded: RecordedLineage): LineageGraph {
  const base = lineageGraph(config);
  const nodes = new Map(base.nodes.map((n) => [n.id, { ...n, origin: "config" as LineageOrigin }]));
  const edges = new Map(
    base.edges.map((e) => [`${e.from}\u0000${e.to}`, { ...e, origin: "config" as LineageOrigin }]),
  );
  const touch = (node: LineageNode): LineageNode => {
    const known = nodes.get(node.id);
    const merged = known ? { ...known, origin: "both" as const } : { ...node, origin: "runs" as const };
    nodes.set(node.id, merged);
    return merged;
  };
  const link = (from: string, to: string, stats: NonNullable<LineageEdge["recorded"]>) => {
    const key = `${from}\u0000${to}`;
    const known = edges.get(key);
    edges.set(key, { from, to, origin: known ? "both" : "runs", recorded: stats });
  };
  const pipelineNode = (name: string) =>
    touch(
      nodes.get(`pipeline:${name}`) ?? { id: `pipeline:${name}`, kind: "pipeline", label: name, column: 1 },
    );
  for (const r of recorded.reads) {
    const source = config.pipelines[r.pipeline]?.source;
    // Query and stream sources have ledger entries of their own; the configured node already stands for them.
    if (source && !("path" in source)) continue;
    const p = pipelineNode(r.pipeline);
    const files = source
      ? touch(nodes.get(`files:${source.path}`)!)
      : touch({
          id: `files:recorded:${r.pipeline}`,
          kind: "files",
          label: `${r.prefix}…`,
          column: p.column - 1,
        });
    link(files.id, p.id, { files: r.files, rows: r.rows, last_at: r.last_at });
  }
  for (const w of recorded.writes) {
    const p = pipelineNode(w.pipeline);
    const table = touch(
      nodes.get(`table:${w.table}`) ?? {
        id: `table:${w.table}`,
        kind: "table",
        label: w.table,
        column: p.column + 1,
      },
    );
    link(p.id, table.id, { loads: w.loads, rows: w.inserted, last_at: w.last_at });
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()] };
}

const BOX_W = 170;
const BOX_H = 28;
const COL_GAP = 70;
const ROW_GAP = 18;

/** The graph drawn as SVG: one column per stage, boxes joined by curves. */
export function lineageSvg(graph: LineageGraph): SafeHtml {
  const rows = new Map<number, number>();
  const at = new Map<string, { x: number; y: number }>();
  for (const n of graph.nodes) {
    const row = rows.get(n.column) ?? 0;
    rows.set(n.column, row + 1);
    at.set(n.id, { x: 10 + n.column * (BOX_W + COL_GAP), y: 10 + row * (BOX_H + ROW_GAP) });
  }
  const width = 20 + (Math.max(0, ...graph.nodes.map((n) => n.column)) + 1) * (BOX_W + COL_GAP);
  const height = 20 + Math.max(1, ...rows.values()) * (BOX_H + ROW_GAP);
  const clip = (s: string) => (s.length > 24 ? `${s.slice(0, 23)}…` : s);
  return html`<svg class="lineage" id="lineage" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
${graph.edges.map((e) => {
  const a = at.get(e.from);
  const b = at.get(e.to);
  if (!a || !b) return "";
  const x1 = a.x + BOX_W;
  const y1 = a.y + BOX_H / 2;
  const x2 = b.x;
  const y2 = b.y + BOX_H / 2;
  const mid = (x1 + x2) / 2;
  const r = e.recorded;
  const title = r
    ? `${r.files !== undefined ? `${r.files} files, ` : ""}${r.loads !== undefined ? `${r.loads} loads, ` : ""}${r.rows} rows; last ${r.last_at}`
    : "configured; no run recorded";
  return html`<path class="${e.origin ?? ""}" data-edge="${e.from} -> ${e.to}" d="M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}"><title>${title}</title></path>`;
})}
${graph.nodes.map((n) => {
  const p = at.get(n.id)!;
  const cls =
    n.kind === "files" || n.kind === "query" || n.kind === "database" || n.kind === "stream"
      ? "file"
      : n.kind === "pipeline"
        ? ""
        : "table";
  const origin = n.origin === "runs" ? " (recorded runs only)" : n.origin === "config" ? " (no run yet)" : "";
  return html`<g data-node="${n.id}" class="${n.origin ?? ""}"><title>${n.kind}: ${n.label}${origin}</title><rect class="${cls}" x="${p.x}" y="${p.y}" width="${BOX_W}" height="${BOX_H}" rx="4"/><text x="${p.x + 8}" y="${p.y + 18}">${clip(n.label)}</text></g>`;
})}</svg>`;
}
