import { readFile, realpath } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { isFileSource, type ProjectConfig } from "../config/schema.js";
import { type AvroReaderSchema, avroType, loadAvsc } from "../engine/avro-container.js";
import { compileAvroRecord } from "../engine/avro-values.js";
import { SluiceError } from "../errors.js";
import { formatFromName } from "../plan/landing-paths.js";
import type { ConfigProblem } from "./config-problem.js";

/**
 * Reads and checks every pipeline's Avro reader schema (`source.avro_schema`), keyed by the path as
 * written. A schema outside the project, missing, not JSON, not a valid Avro record schema (avsc's
 * reason, invalid defaults included) is a problem at `pipelines.<name>.source.avro_schema`, naming the
 * file; so is a reader schema on a source of another format, or on a glob without `format:` that may
 * match files other than `.avro` ones (their format comes from their names: the schema would not apply).
 *
 * @example
 * const { schemas, problems } = await readAvroReaderSchemas(config, "/srv/project");
 */
export async function readAvroReaderSchemas(
  config: ProjectConfig,
  rootDir: string,
): Promise<{ schemas: Map<string, AvroReaderSchema>; problems: ConfigProblem[] }> {
  const schemas = new Map<string, AvroReaderSchema>();
  const problems: ConfigProblem[] = [];
  const failed = new Map<string, string>();
  for (const [name, pipeline] of Object.entries(config.pipelines)) {
    const source = pipeline.source;
    if (!isFileSource(source) || source.avro_schema === undefined) continue;
    const at = `pipelines.${name}.source.avro_schema`;
    if (source.format !== undefined && source.format !== "avro") {
      problems.push({
        path: at,
        message: `a reader schema applies to Avro files, not format ${source.format}`,
      });
      continue;
    }
    // Without `format:` each file's format comes from its name: a glob that may match other files
    // would read those without the schema, silently.
    if (source.format === undefined && formatFromName(source.path) !== "avro") {
      problems.push({
        path: at,
        message: `a reader schema applies to Avro files, and ${JSON.stringify(source.path)} does not name only .avro files: set format: avro (every matched file is then read as Avro) or end the glob in .avro`,
      });
      continue;
    }
    const path = source.avro_schema;
    if (!schemas.has(path) && !failed.has(path)) {
      try {
        schemas.set(path, await readAvroReaderSchema(rootDir, path));
      } catch (error) {
        failed.set(path, (error as Error).message);
      }
    }
    const problem = failed.get(path);
    if (problem) problems.push({ path: at, message: problem });
  }
  return { schemas, problems };
}

/**
 * The reader schema at `path` (relative to the project folder `rootDir`), read and checked; throws
 * CONFIG_INVALID naming the file. A path leaving the project, directly or through a symbolic link, is
 * refused: config reads only the project's own files.
 *
 * @example
 * const reader = await readAvroReaderSchema("/srv/project", "schemas/payment.avsc");
 */
export async function readAvroReaderSchema(rootDir: string, path: string): Promise<AvroReaderSchema> {
  const fail = (what: string) => new SluiceError("CONFIG_INVALID", `${path}: ${what}`);
  const outside = fail(
    "outside the project: a reader schema is read from the project folder (the folder of sluice.yaml)",
  );
  const root = resolve(rootDir);
  const full = resolve(root, path);
  if (isAbsolute(path) || !inside(root, full)) throw outside;
  let text: string;
  try {
    // A link inside the project may point out of it: the real path must stay inside too.
    if (!inside(await realpath(root), await realpath(full))) throw outside;
    text = await readFile(full, "utf8");
  } catch (error) {
    if (error === outside) throw outside;
    const code = (error as NodeJS.ErrnoException).code;
    throw fail(code === "ENOENT" ? "not found" : `cannot be read (${code ?? String(error)})`);
  }
  let schema: unknown;
  try {
    schema = JSON.parse(text);
  } catch (error) {
    throw fail(`not a JSON Avro schema (${(error as Error).message})`);
  }
  try {
    avroType(await loadAvsc(), schema);
    compileAvroRecord(schema as Parameters<typeof compileAvroRecord>[0]);
  } catch (error) {
    throw fail(`not a valid Avro reader schema: ${(error as Error).message}`);
  }
  return { path, schema };
}

function inside(root: string, full: string): boolean {
  const rel = relative(root, full);
  return rel !== "" && !rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel);
}
