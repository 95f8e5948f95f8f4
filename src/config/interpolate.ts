import { randomBytes } from "node:crypto";
import { type Document, isScalar, type Scalar, visit } from "yaml";

/** A `${VAR}` reference that has no value in the environment. */
export interface MissingVariable {
  readonly name: string;
  readonly line: number;
}

/** One `${VAR}` replaced by its value. */
export interface Substitution {
  readonly name: string;
  readonly value: string;
}

/** A `${NAME}`, `${NAME:-default}` or escaped `$${NAME}` in the text, where it stands. */
interface Reference {
  readonly name: string;
  readonly fallback: string | undefined;
  readonly escaped: boolean;
  readonly text: string;
  readonly line: number;
}

/** Project text whose references stand in as plain words, to be parsed as YAML. */
export interface Placeheld {
  readonly text: string;
  readonly references: readonly Reference[];
  /** Matches one placeholder; group 1 is the reference's index. */
  readonly placeholder: RegExp;
}

/**
 * Replaces every `${NAME}`, `${NAME:-default}` and `$${NAME}` in the text with a plain word, so the YAML
 * parser sees a value where the reference is — whatever the value will hold (digits, `#`, `: `, `{`,
 * quotes), and even inside a flow mapping `{ key: ${VAR} }`. {@link interpolateDocument} puts the values
 * in the parsed strings. Pure.
 *
 * @example
 * placeholdReferences("url: ${URL} # see ${DOCS}").text // "url: sluiceab12cd34r0x # see sluiceab12cd34r1x"
 */
export function placeholdReferences(text: string): Placeheld {
  let nonce = randomBytes(4).toString("hex");
  while (text.includes(nonce)) nonce = randomBytes(4).toString("hex");
  const references: Reference[] = [];
  const out = text.replace(
    /(\$?)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (match, escaped: string, name: string, fallback: string | undefined, offset: number) => {
      const line = text.slice(0, offset).split("\n").length;
      references.push({ name, fallback, escaped: escaped === "$", text: match, line });
      return `sluice${nonce}r${references.length - 1}x`;
    },
  );
  return { text: out, references, placeholder: new RegExp(`sluice${nonce}r(\\d+)x`, "g") };
}

/** What {@link interpolateDocument} did. */
export interface DocumentInterpolation {
  /** Unset variables, with the line of the file they are on. */
  readonly missing: readonly MissingVariable[];
  /** Every scalar that held a reference, with the names of the variables in it. */
  readonly nodes: ReadonlyMap<Scalar, readonly string[]>;
  /** Every value put in, to keep out of messages. */
  readonly used: readonly Substitution[];
}

/**
 * Interpolates the environment into the parsed document's string scalars (keys and values): a value is
 * always a string, never YAML to parse again, and a reference in a YAML comment (which the document no
 * longer holds) is not one. An empty variable counts as unset; `${NAME:-default}` falls back; `$${NAME}`
 * is the literal text `${NAME}`. Mutates `doc`.
 *
 * @example
 * const held = placeholdReferences(text); const doc = parseDocument(held.text);
 * const { missing } = interpolateDocument(doc, held, process.env);
 */
export function interpolateDocument(
  doc: Document,
  held: Placeheld,
  env: Readonly<Record<string, string | undefined>>,
): DocumentInterpolation {
  const missing: MissingVariable[] = [];
  const nodes = new Map<Scalar, readonly string[]>();
  const used: Substitution[] = [];
  visit(doc, {
    Scalar(_, node) {
      if (!isScalar(node) || typeof node.value !== "string") return;
      const names: string[] = [];
      const value = node.value.replace(held.placeholder, (_match, index: string) => {
        const ref = held.references[Number(index)]!;
        if (ref.escaped) return ref.text.slice(1);
        names.push(ref.name);
        const set = env[ref.name];
        if (set !== undefined && set !== "") {
          used.push({ name: ref.name, value: set });
          return set;
        }
        if (ref.fallback !== undefined) return ref.fallback;
        missing.push({ name: ref.name, line: ref.line });
        return "";
      });
      if (value === node.value) return;
      node.value = value;
      if (names.length > 0) nodes.set(node, names);
    },
  });
  return { missing, nodes, used };
}

/**
 * `message` with every interpolated value of three characters or more replaced by its `${NAME}`, so a
 * secret put in from the environment is never printed back.
 *
 * @example
 * scrubSubstitutions("bad port abc1", [{ name: "PORT", value: "abc1" }]) // "bad port ${PORT}"
 */
export function scrubSubstitutions(message: string, used: readonly Substitution[]): string {
  let out = message;
  const longestFirst = [...used]
    .filter((s) => s.value.length >= 3)
    .sort((a, b) => b.value.length - a.value.length);
  for (const { name, value } of longestFirst) out = out.replaceAll(value, `\${${name}}`);
  return out;
}
