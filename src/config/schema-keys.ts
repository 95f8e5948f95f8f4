import type { z } from "zod";

/** The parts of a zod schema's definition this module reads. */
interface Def {
  readonly type: string;
  readonly shape?: Readonly<Record<string, z.core.$ZodType>>;
  readonly innerType?: z.core.$ZodType;
  readonly in?: z.core.$ZodType;
  readonly element?: z.core.$ZodType;
  readonly valueType?: z.core.$ZodType;
  readonly options?: readonly z.core.$ZodType[];
  readonly discriminator?: string;
  readonly values?: readonly unknown[];
}

const defOf = (schema: z.core.$ZodType): Def => schema._zod.def as unknown as Def;

/**
 * The keys `schema` allows in the mapping at `path` of `raw` (the input it was given), or undefined
 * when no mapping is expected there. Unions follow the branch the input evidently meant (its
 * discriminator, else the branch sharing most keys with it). Pure.
 *
 * @example
 * allowedKeys(projectSchema, raw, ["pipelines", "orders"]) // ["description", "source", "columns", ...]
 */
export function allowedKeys(
  schema: z.core.$ZodType,
  raw: unknown,
  path: readonly PropertyKey[],
): string[] | undefined {
  let node: z.core.$ZodType | undefined = unwrap(schema, raw);
  let value = raw;
  for (const key of path) {
    if (!node) return undefined;
    const def = defOf(node);
    const child =
      def.type === "object"
        ? def.shape?.[String(key)]
        : def.type === "record"
          ? def.valueType
          : def.type === "array"
            ? def.element
            : undefined;
    value =
      isMapping(value) || Array.isArray(value) ? (value as Record<PropertyKey, unknown>)[key] : undefined;
    node = child && unwrap(child, value);
  }
  const def = node && defOf(node);
  return def?.type === "object" ? Object.keys(def.shape ?? {}) : undefined;
}

/** Through optional, default, pipe and union wrappers to the schema that shapes `value`. */
function unwrap(schema: z.core.$ZodType, value: unknown): z.core.$ZodType | undefined {
  let node = schema;
  for (let depth = 0; depth < 20; depth++) {
    const def = defOf(node);
    if (def.innerType) node = def.innerType;
    else if (def.type === "pipe" && def.in) node = def.in;
    else if (def.type === "union") {
      const chosen = chooseBranch(def, value);
      if (!chosen) return undefined;
      node = chosen;
    } else return node;
  }
  return undefined;
}

/** The union branch `value` means: by its discriminator, else the mapping branch sharing most keys. */
function chooseBranch(def: Def, value: unknown): z.core.$ZodType | undefined {
  const options = def.options ?? [];
  if (!isMapping(value)) return undefined;
  const shapeOf = (option: z.core.$ZodType) => {
    const inner = unwrap(option, value);
    const d = inner && defOf(inner);
    return d?.type === "object" ? (d.shape ?? {}) : undefined;
  };
  if (def.discriminator) {
    const tag = value[def.discriminator];
    return options.find((o) => {
      const field = shapeOf(o)?.[def.discriminator!];
      return field !== undefined && (defOf(field).values ?? []).includes(tag);
    });
  }
  let best: z.core.$ZodType | undefined;
  let bestShared = -1;
  for (const option of options) {
    const shape = shapeOf(option);
    if (!shape) continue;
    const shared = Object.keys(value).filter((k) => k in shape).length;
    if (shared > bestShared) {
      best = option;
      bestShared = shared;
    }
  }
  return best;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
