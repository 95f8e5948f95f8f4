import { describe, expect, it } from "vitest";
import {
  directDownstreams,
  findCycle,
  graphProblems,
  topologicalOrder,
  withDownstream,
} from "../../src/plan/pipeline-graph.js";

const d = (...names: string[]) => ({ depends_on: names });

describe("pipeline graph", () => {
  const layers = { gold: d("silver", "dim"), raw: d(), silver: d("raw"), dim: d(), other: d() };

  it("orders upstreams first, keeping config order among independents", () => {
    expect(topologicalOrder(layers)).toEqual(["raw", "silver", "dim", "gold", "other"]);
    expect(topologicalOrder(layers, ["gold", "silver"])).toEqual(["silver", "gold"]);
  });

  it("selects downstreams transitively, in run order", () => {
    expect(withDownstream(layers, ["raw"])).toEqual(["raw", "silver", "gold"]);
    expect(withDownstream(layers, ["dim"])).toEqual(["dim", "gold"]);
    expect(withDownstream(layers, ["other"])).toEqual(["other"]);
    expect(directDownstreams(layers, "silver")).toEqual(["gold"]);
  });

  it("finds cycles, self-dependencies included", () => {
    expect(findCycle(layers)).toBeNull();
    expect(findCycle({ a: d("a") })).toEqual(["a", "a"]);
    expect(findCycle({ a: d("b"), b: d("c"), c: d("a") })).toEqual(["a", "b", "c", "a"]);
    expect(() => topologicalOrder({ a: d("b"), b: d("a") })).toThrow(/cycle: a -> b -> a/);
  });

  it("reports unknown names and cycles as config problems", () => {
    expect(graphProblems({ a: d("nope"), b: d() })).toEqual([
      { path: "pipelines.a.depends_on", message: "unknown pipeline nope (defined: a, b)" },
    ]);
    expect(graphProblems({ a: d("b"), b: d("a") })).toEqual([
      { path: "pipelines.a.depends_on", message: "dependency cycle: a -> b -> a" },
    ]);
    expect(graphProblems(layers)).toEqual([]);
  });
});
