import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/**
 * The folders of src/ from the bottom up (see docs/internals.md). A file may import from its own folder
 * and from folders in lower layers; folders in one layer do not import each other. "." is the files
 * directly in src/.
 */
const LAYERS: readonly (readonly string[])[] = [
  ["."],
  ["resilience", "integrity"],
  ["config"],
  ["plan", "storage"],
  ["lake", "engine"],
  ["warehouse"],
  ["sources", "streams"],
  ["project", "catalog"],
  // One pipeline run: its units, stages and publish; runner/ above it schedules, watches and retries runs.
  ["run"],
  ["runner"],
  ["query", "scale"],
  ["server"],
  ["cli"],
  // The library's entry point (src/index.ts) sits on top, beside the CLI.
  ["index.ts"],
];

const SRC = join(import.meta.dirname, "..", "..", "src");

type Graph = ReadonlyMap<string, readonly string[]>;

/** Every relative module a file names: imports and re-exports (type-only too), `import()` and `import("…").T`. */
function specifiers(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteral(node.moduleSpecifier)) found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [first] = node.arguments;
      if (first && ts.isStringLiteralLike(first)) found.push(first.text);
    } else if (ts.isImportTypeNode(node)) {
      const literal = ts.isLiteralTypeNode(node.argument) ? node.argument.literal : undefined;
      if (literal && ts.isStringLiteral(literal)) found.push(literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found.filter((s) => s.startsWith("."));
}

/** The import graph of src/, keyed by path relative to src/ (`run/run-id.ts`). */
function importGraph(): Graph {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(ts|mts)$/.test(entry.name) && !entry.name.endsWith(".d.ts")) files.push(path);
    }
  };
  walk(SRC);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const targets = specifiers(file).map((spec) => {
      const target = join(dirname(file), spec).replace(/\.(m?)js$/, ".$1ts");
      const resolved = existsSync(target) ? target : join(target, "index.ts");
      return relative(SRC, resolved).split(sep).join("/");
    });
    graph.set(relative(SRC, file).split(sep).join("/"), targets);
  }
  return graph;
}

/** Groups of files that import each other, directly or through others (Tarjan's strongly connected components). */
function cycles(graph: Graph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string | undefined;
    do {
      w = stack.pop();
      if (w === undefined) break;
      onStack.delete(w);
      group.push(w);
    } while (w !== v);
    const selfImport = group.length === 1 && (graph.get(v) ?? []).includes(v);
    if (group.length > 1 || selfImport) found.push(group.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) connect(v);
  return found;
}

function folderOf(file: string): string {
  const slash = file.indexOf("/");
  if (slash === -1) return file === "index.ts" ? "index.ts" : ".";
  return file.slice(0, slash);
}

/** Imports that reach a folder in the same or a higher layer than the importer's, and folders with no layer. */
function layerViolations(graph: Graph, layers: readonly (readonly string[])[]): string[] {
  const rank = new Map<string, number>();
  layers.forEach((folders, i) => {
    for (const folder of folders) rank.set(folder, i);
  });
  const problems = new Set<string>();
  for (const [file, targets] of graph) {
    const from = folderOf(file);
    const fromRank = rank.get(from);
    if (fromRank === undefined) {
      problems.add(`src/${from}/ has no layer: add it to LAYERS in test/architecture/layers.test.ts`);
      continue;
    }
    for (const target of targets) {
      const to = folderOf(target);
      if (to === from) continue;
      const toRank = rank.get(to);
      if (toRank === undefined || toRank < fromRank) continue;
      const how = toRank === fromRank ? "beside it in the same layer" : "above it";
      problems.add(`src/${file} imports src/${target}: ${to}/ is ${how}`);
    }
  }
  return [...problems].sort();
}

describe("folder layers", () => {
  const graph = importGraph();

  it("reads the imports of src/", () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get("runner/alerts.ts")).toContain("resilience/retry.ts");
  });

  it("no file imports itself back through others, type-only imports included", () => {
    expect(cycles(graph)).toEqual([]);
  });

  it("imports point down the layers only, and every folder of src/ has a layer", () => {
    expect(layerViolations(graph, LAYERS)).toEqual([]);
  });

  it("the checks catch a cycle, an upward import, a sideways import and a folder with no layer", () => {
    const made: Graph = new Map([
      ["errors.ts", []],
      ["plan/a.ts", ["plan/b.ts", "errors.ts"]],
      ["plan/b.ts", ["plan/a.ts", "storage/s.ts"]],
      ["storage/s.ts", ["runner/r.ts"]],
      ["runner/r.ts", ["plan/a.ts"]],
      ["extra/x.ts", []],
    ]);
    expect(cycles(made)).toEqual([["plan/a.ts", "plan/b.ts", "runner/r.ts", "storage/s.ts"]]);
    expect(layerViolations(made, [["."], ["plan", "storage"], ["runner"]])).toEqual([
      "src/extra/ has no layer: add it to LAYERS in test/architecture/layers.test.ts",
      "src/plan/b.ts imports src/storage/s.ts: storage/ is beside it in the same layer",
      "src/storage/s.ts imports src/runner/r.ts: runner/ is above it",
    ]);
  });
});
