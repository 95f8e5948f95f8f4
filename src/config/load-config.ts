import { readFile } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit } from "yaml";
import type { z } from "zod";
import { SluiceError } from "../errors.js";
import { didYouMean } from "../plan/nearest-name.js";
import { interpolate } from "./interpolate.js";
import { type ProjectConfig, projectSchema } from "./schema.js";
import { allowedKeys } from "./schema-keys.js";
import { postgresWarehouseProblems } from "./validate-postgres-warehouse.js";

/** A loaded project: the validated config and where it lives. */
export interface Project {
  readonly config: ProjectConfig;
  /** Absolute path of sluice.yaml. */
  readonly configFile: string;
  /** Folder of sluice.yaml; relative paths in the config resolve against it. */
  readonly rootDir: string;
}

/** One configuration problem, printed as `<file>: <path>: <message>`. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
  readonly line?: number | undefined;
}

/**
 * Finds, reads, interpolates and validates a project file.
 *
 * @example
 * const project = await loadProject({ configPath: "sluice.yaml" });
 * Object.keys(project.config.pipelines);
 */
export async function loadProject(
  options: { configPath?: string | undefined; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Project> {
  const cwd = options.cwd ?? process.cwd();
  const configFile = resolve(cwd, options.configPath ?? "sluice.yaml");
  let text: string;
  try {
    text = await readFile(configFile, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new SluiceError(
        "CONFIG_NOT_FOUND",
        `${basename(configFile)}: not found in ${dirname(configFile)} (run \`sluice init\` or pass --config <file>)`,
      );
    }
    throw new SluiceError("CONFIG_NOT_FOUND", `${configFile}: cannot be read (${code ?? String(error)})`, {
      cause: error,
    });
  }
  const config = parseProjectText(text, basename(configFile), options.env ?? process.env);
  return { config, configFile, rootDir: dirname(configFile) };
}

/**
 * Pure: parses and validates project YAML text, throwing one CONFIG_INVALID error that lists every problem.
 *
 * @example
 * parseProjectText("pipelines: {}", "sluice.yaml", {}); // throws: sluice.yaml: pipelines: define at least one pipeline
 */
export function parseProjectText(text: string, fileLabel: string, env: NodeJS.ProcessEnv): ProjectConfig {
  const { text: expanded, missing } = interpolate(text, env);
  const problems: ConfigProblem[] = missing.map((m) => ({
    path: `line ${m.line}`,
    message: `environment variable \${${m.name}} is not set`,
  }));
  const lineCounter = new LineCounter();
  const doc = parseDocument(expanded, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    for (const error of doc.errors) {
      const pos = error.linePos?.[0];
      problems.push({
        path: pos ? `line ${pos.line}:${pos.col}` : "yaml",
        message: error.message.split("\n")[0] ?? error.message,
      });
    }
    throw configError(fileLabel, problems);
  }
  keepNullWords(doc);
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw configError(fileLabel, [{ path: "(root)", message: "expected a mapping with `pipelines:`" }]);
  }
  // reportInput: a value of the wrong type is named ("expected number, got ..."), not taken for a missing one.
  const result = projectSchema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    problems.push(...zodProblems(result.error, raw, (path) => lineOf(doc, lineCounter, path)));
  }
  if (result.success) problems.push(...postgresWarehouseProblems(result.data as ProjectConfig));
  if (problems.length > 0) throw configError(fileLabel, problems);
  return result.data as ProjectConfig;
}

/**
 * YAML reads a bare `null` as no value, but two places of sluice.yaml mean the word: the CSV option
 * `null: ["", "NA"]` (a key) and `mask: null` (a value; leaving a column unmasked is written by leaving
 * `mask` out). Both are taken as the string "null", as if quoted; `~` stays no value.
 */
function keepNullWords(doc: ReturnType<typeof parseDocument>): void {
  const nullWord = (node: unknown) =>
    isScalar(node) && node.value === null && /^null$/i.test(String(node.source));
  visit(doc, {
    Pair(_, pair) {
      if (nullWord(pair.key) && isScalar(pair.key)) pair.key.value = "null";
      if (isScalar(pair.key) && pair.key.value === "mask" && nullWord(pair.value) && isScalar(pair.value)) {
        pair.value.value = "null";
      }
    },
  });
}

/** Turns problems into the single error every command reports with exit code 2. */
export function configError(fileLabel: string, problems: readonly ConfigProblem[]): SluiceError {
  const lines = problems.map((p) => `${fileLabel}: ${p.path}: ${p.message}`);
  return new SluiceError("CONFIG_INVALID", lines[0] ?? `${fileLabel}: invalid`, { details: lines.slice(1) });
}

function zodProblems(
  error: z.ZodError,
  raw: unknown,
  lineFor: (path: readonly PropertyKey[]) => number | undefined,
): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const visit = (issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[]): void => {
    for (const issue of issues) {
      const path = [...prefix, ...issue.path];
      if (issue.code === "invalid_union" && issue.errors.length > 0) {
        // Unions report one issue list per branch: show the branch the user evidently meant.
        visit(closestBranch(issue.errors), path);
        continue;
      }
      const at = { path: formatPath(path.map(String)), line: lineFor(path) };
      if (issue.code === "unrecognized_keys") {
        // One line per unknown key, each with the nearest key the mapping allows.
        const allowed = allowedKeys(projectSchema, raw, path) ?? [];
        for (const key of issue.keys) out.push({ ...at, message: unknownKeyMessage(key, allowed) });
        continue;
      }
      out.push({ ...at, message: issueMessage(issue) });
    }
  };
  visit(error.issues, []);
  return out;
}

/** The union branch whose problems are least about the shape itself (missing or unknown keys). */
function closestBranch(branches: readonly (readonly z.core.$ZodIssue[])[]): readonly z.core.$ZodIssue[] {
  const shapeScore = (issues: readonly z.core.$ZodIssue[]): number =>
    issues.filter(
      (i) => i.code === "unrecognized_keys" || (i.code === "invalid_type" && i.input === undefined),
    ).length;
  let best = branches[0] ?? [];
  for (const branch of branches) {
    const a = shapeScore(branch);
    const b = shapeScore(best);
    if (a < b || (a === b && branch.length < best.length)) best = branch;
  }
  return best;
}

/** `unknown key dedup; did you mean \`dedupe\`?`, or the keys allowed when none is close. */
function unknownKeyMessage(key: string, allowed: readonly string[]): string {
  const near = didYouMean(key, allowed);
  if (near || allowed.length === 0) return `unknown key ${key}${near}`;
  return `unknown key ${key} (keys here: ${allowed.join(", ")})`;
}

function issueMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_value": {
      const values = issue.values.map(String);
      const near = typeof issue.input === "string" ? didYouMean(issue.input, values) : "";
      return `expected one of ${values.join(", ")}${near}`;
    }
    case "invalid_union": {
      // A discriminated union whose tag (a check's `rule`) names no branch.
      const tag = (issue as { discriminator?: string }).discriminator;
      const options = ((issue as { options?: unknown[] }).options ?? []).map(String);
      if (!tag || options.length === 0) return issue.message;
      const input = (issue.input as Record<string, unknown> | undefined)?.[tag];
      const near = typeof input === "string" ? didYouMean(input, options) : "";
      return `expected one of ${options.join(", ")}${near}`;
    }
    case "unrecognized_keys":
      return `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.join(", ")}`;
    case "invalid_type":
      if (issue.input === undefined) return "is required";
      return `expected ${issue.expected}, got ${describe(issue.input)}`;
    default:
      return issue.message;
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `${typeof value} ${JSON.stringify(value)}`;
}

/** `["pipelines","orders","checks",2,"column"]` → `pipelines.orders.checks[2].column`. */
export function formatPath(path: readonly string[]): string {
  if (path.length === 0) return "(root)";
  let out = "";
  for (const part of path) {
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else out += out === "" ? part : `.${part}`;
  }
  return out;
}

function lineOf(
  doc: ReturnType<typeof parseDocument>,
  counter: LineCounter,
  path: readonly PropertyKey[],
): number | undefined {
  let node: unknown = doc.contents;
  for (const key of path) {
    if (isMap(node)) node = node.get(String(key), true);
    else if (isSeq(node)) node = node.get(Number(key), true);
    else break;
  }
  const range = (node as { range?: [number, number, number] } | undefined)?.range;
  return range ? counter.linePos(range[0]).line : undefined;
}
