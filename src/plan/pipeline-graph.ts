/** What the graph needs of a pipeline: the names it depends on. */
export interface GraphNode {
  readonly depends_on: readonly string[];
}

/** A problem in the `depends_on` graph, with the config path it concerns. */
export interface GraphProblem {
  readonly path: string;
  readonly message: string;
}

/**
 * Checks a project's `depends_on` graph: every name must be a pipeline, and there must be no cycle
 * (a pipeline depending on itself included). Pure.
 *
 * @example
 * graphProblems({ a: { depends_on: ["b"] }, b: { depends_on: ["a"] } })
 * // [{ path: "pipelines.a.depends_on", message: "dependency cycle: a -> b -> a" }]
 */
export function graphProblems(pipelines: Readonly<Record<string, GraphNode>>): GraphProblem[] {
  const problems: GraphProblem[] = [];
  for (const [name, node] of Object.entries(pipelines)) {
    for (const upstream of node.depends_on) {
      if (!Object.hasOwn(pipelines, upstream)) {
        problems.push({
          path: `pipelines.${name}.depends_on`,
          message: `unknown pipeline ${upstream} (defined: ${Object.keys(pipelines).join(", ")})`,
        });
      }
    }
  }
  const cycle = findCycle(pipelines);
  if (cycle) {
    problems.push({
      path: `pipelines.${cycle[0]}.depends_on`,
      message: `dependency cycle: ${cycle.join(" -> ")}`,
    });
  }
  return problems;
}

/**
 * One dependency cycle as a path that starts and ends with the same pipeline, or null. Unknown names
 * are ignored. Pure.
 *
 * @example
 * findCycle({ a: { depends_on: ["a"] } }) // ["a", "a"]
 */
export function findCycle(pipelines: Readonly<Record<string, GraphNode>>): string[] | null {
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const visit = (name: string): string[] | null => {
    const seen = state.get(name);
    if (seen === "done") return null;
    if (seen === "visiting") return [...stack.slice(stack.indexOf(name)), name];
    state.set(name, "visiting");
    stack.push(name);
    for (const upstream of pipelines[name]?.depends_on ?? []) {
      if (!Object.hasOwn(pipelines, upstream)) continue;
      const cycle = visit(upstream);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(name, "done");
    return null;
  };
  for (const name of Object.keys(pipelines)) {
    const cycle = visit(name);
    if (cycle) return cycle;
  }
  return null;
}

/**
 * Orders `names` so that every pipeline comes after its upstreams among them (upstreams outside
 * `names` are not added). Ties keep the order of the config. Throws on a cycle. Pure.
 *
 * @example
 * topologicalOrder({ gold: { depends_on: ["silver"] }, silver: { depends_on: [] } }) // ["silver", "gold"]
 */
export function topologicalOrder(
  pipelines: Readonly<Record<string, GraphNode>>,
  names: readonly string[] = Object.keys(pipelines),
): string[] {
  const wanted = new Set(names);
  const configOrder = Object.keys(pipelines).filter((n) => wanted.has(n));
  const order: string[] = [];
  const placed = new Set<string>();
  while (order.length < configOrder.length) {
    const next = configOrder.find(
      (n) => !placed.has(n) && (pipelines[n]?.depends_on ?? []).every((u) => !wanted.has(u) || placed.has(u)),
    );
    if (next === undefined) {
      const cycle = findCycle(pipelines);
      throw new Error(
        `dependency cycle: ${(cycle ?? configOrder.filter((n) => !placed.has(n))).join(" -> ")}`,
      );
    }
    order.push(next);
    placed.add(next);
  }
  return order;
}

/**
 * A pipeline and everything depending on it, directly or not, in run order. Pure.
 *
 * @example
 * withDownstream({ raw: { depends_on: [] }, clean: { depends_on: ["raw"] } }, ["raw"]) // ["raw", "clean"]
 */
export function withDownstream(
  pipelines: Readonly<Record<string, GraphNode>>,
  roots: readonly string[],
): string[] {
  const selected = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [name, node] of Object.entries(pipelines)) {
      if (!selected.has(name) && node.depends_on.some((u) => selected.has(u))) {
        selected.add(name);
        grew = true;
      }
    }
  }
  return topologicalOrder(pipelines, [...selected]);
}

/**
 * The pipelines that depend directly on `name`. Pure.
 *
 * @example
 * directDownstreams({ a: { depends_on: [] }, b: { depends_on: ["a"] } }, "a") // ["b"]
 */
export function directDownstreams(pipelines: Readonly<Record<string, GraphNode>>, name: string): string[] {
  return Object.entries(pipelines)
    .filter(([, node]) => node.depends_on.includes(name))
    .map(([n]) => n);
}
