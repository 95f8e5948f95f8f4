import { readFile } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit } from "yaml";
import type { z } from "zod";
import {
  type DocumentInterpolation,
  interpolateDocument,
  placeholdReferences,
  scrubSubstitutions,
} from "../config/interpolate.js";
import { type ProjectConfig, projectSchema } from "../config/schema.js";
import { allowedKeys } from "../config/schema-keys.js";
import type { AvroReaderSchema } from "../engine/avro-container.js";
import { SluiceError } from "../errors.js";
import { didYouMean } from "../plan/nearest-name.js";
import { readAvroReaderSchemas } from "./avro-reader-schemas.js";
import { type ConfigProblem, configError } from "./config-problem.js";
import { databaseSourceProblems } from "./validate-database-sources.js";
import { nestedProblems } from "./validate-nested.js";
import { postgresWarehouseProblems } from "./validate-postgres-warehouse.js";

/** A loaded project: the validated config and where it lives. */
export interface Project {
  readonly config: ProjectConfig;
  /** Absolute path of sluice.yaml. */
  readonly configFile: string;
  /** Folder of sluice.yaml; relative paths in the config resolve against it. */
  readonly rootDir: string;
  /** The pipelines' Avro reader schemas (`source.avro_schema`), read and checked, by path as written. */
  readonly avroSchemas?: ReadonlyMap<string, AvroReaderSchema>;
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
  const rootDir = dirname(configFile);
  // Read here, so that every command (`sluice validate` first) reports a bad reader schema.
  const avro = await readAvroReaderSchemas(config, rootDir);
  if (avro.problems.length > 0) throw configError(basename(configFile), avro.problems);
  return { config, configFile, rootDir, avroSchemas: avro.schemas };
}

/**
 * Pure: parses and validates project YAML text, throwing one CONFIG_INVALID error that lists every problem.
 * `${VAR}` references are interpolated into the parsed string values (see {@link interpolateDocument});
 * no message repeats a value put in from the environment.
 *
 * @example
 * parseProjectText("pipelines: {}", "sluice.yaml", {}); // throws: sluice.yaml: pipelines: define at least one pipeline
 */
export function parseProjectText(text: string, fileLabel: string, env: NodeJS.ProcessEnv): ProjectConfig {
  const lineCounter = new LineCounter();
  const held = placeholdReferences(text);
  const doc = parseDocument(held.text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // Messages quote the text: a reference shows as written, never as its value.
    const unheld = (message: string) =>
      message.replace(held.placeholder, (_m, i: string) => held.references[Number(i)]?.text ?? "");
    throw configError(
      fileLabel,
      doc.errors.map((error) => {
        const pos = error.linePos?.[0];
        return {
          path: pos ? `line ${pos.line}:${pos.col}` : "yaml",
          message: unheld(error.message.split("\n")[0] ?? error.message),
        };
      }),
    );
  }
  const interpolation = interpolateDocument(doc, held, env);
  const problems: ConfigProblem[] = interpolation.missing.map((m) => ({
    path: `line ${m.line}`,
    message: `environment variable \${${m.name}} is not set`,
  }));
  keepNullWords(doc);
  let raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw configError(fileLabel, [{ path: "(root)", message: "expected a mapping with `pipelines:`" }]);
  }
  // reportInput: a value of the wrong type is named ("expected number, got ..."), not taken for a missing one.
  let result = projectSchema.safeParse(raw, { reportInput: true });
  if (!result.success && typeInterpolatedValues(doc, interpolation, result.error)) {
    raw = doc.toJS();
    result = projectSchema.safeParse(raw, { reportInput: true });
  }
  if (!result.success) {
    const interpolatedAt = (path: readonly PropertyKey[]) => interpolatedNames(doc, interpolation, path);
    problems.push(
      ...zodProblems(result.error, raw, (path) => lineOf(doc, lineCounter, path), interpolatedAt),
    );
  }
  if (result.success) problems.push(...postgresWarehouseProblems(result.data as ProjectConfig));
  if (result.success) problems.push(...databaseSourceProblems(result.data as ProjectConfig));
  if (result.success) problems.push(...nestedProblems(result.data as ProjectConfig));
  if (problems.length > 0) {
    const scrubbed = problems.map((p) => ({
      ...p,
      message: scrubSubstitutions(p.message, interpolation.used),
    }));
    throw configError(fileLabel, scrubbed);
  }
  return result.data as ProjectConfig;
}

/**
 * An interpolated value is a string; where the schema wants a number or true/false instead and the
 * value reads as one (`max_failure_rate: ${RATE}` with RATE=0.1), it is taken as one. Returns whether
 * any value changed (the document is then validated again).
 */
function typeInterpolatedValues(
  doc: ReturnType<typeof parseDocument>,
  interpolation: DocumentInterpolation,
  error: z.ZodError,
): boolean {
  let changed = false;
  const visitIssues = (issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[]): void => {
    for (const issue of issues) {
      const path = [...prefix, ...issue.path];
      if (issue.code === "invalid_union") {
        for (const branch of issue.errors) visitIssues(branch, path);
        continue;
      }
      if (issue.code !== "invalid_type" || typeof issue.input !== "string") continue;
      const node = doc.getIn(path, true);
      if (!isScalar(node) || !interpolation.nodes.has(node)) continue;
      const text = issue.input.trim();
      if (issue.expected === "number" && /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(text)) {
        node.value = Number(text);
        changed = true;
      } else if (issue.expected === "boolean" && /^(true|false)$/i.test(text)) {
        node.value = text.toLowerCase() === "true";
        changed = true;
      }
    }
  };
  visitIssues(error.issues, []);
  return changed;
}

/** The variables interpolated into the value at `path`, or undefined when it holds none. */
function interpolatedNames(
  doc: ReturnType<typeof parseDocument>,
  interpolation: DocumentInterpolation,
  path: readonly PropertyKey[],
): readonly string[] | undefined {
  const node = doc.getIn(path, true);
  return isScalar(node) ? interpolation.nodes.get(node) : undefined;
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

function zodProblems(
  error: z.ZodError,
  raw: unknown,
  lineFor: (path: readonly PropertyKey[]) => number | undefined,
  interpolatedAt: (path: readonly PropertyKey[]) => readonly string[] | undefined,
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
      out.push({ ...at, message: issueMessage(issue, interpolatedAt(path)) });
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

/** The message of a schema issue; a value interpolated from `names` is named by them, never shown. */
function issueMessage(issue: z.core.$ZodIssue, names: readonly string[] | undefined): string {
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
      if (names !== undefined) {
        return `expected ${issue.expected}, got the value of ${names.map((n) => `\${${n}}`).join(", ")}`;
      }
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
