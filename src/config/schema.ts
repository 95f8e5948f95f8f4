import { z } from "zod";

/** Durations like `5s`, `10m`, `3d`, `168h`, `250ms`. */
export const durationPattern = /^\d+(\.\d+)?(ms|s|m|h|d|w)$/;
const duration = z.string().regex(durationPattern, "expected a duration like 5s, 10m, 3d or 168h");
const identifier = z.string().min(1, "must not be empty");
const columnList = z.array(identifier).min(1, "must list at least one column");

export const formats = ["csv", "jsonl", "json", "parquet", "avro"] as const;
/** How a landing file is read: `json` is a JSON array of objects, one object, or JSON lines (auto-detected). */
export type FileFormat = (typeof formats)[number];
export const masks = ["hash", "redact", "email", "last4", "null", "drop"] as const;
export const severities = ["error", "warn", "fatal"] as const;
export const writeModes = ["append", "replace", "merge", "delete_insert", "scd2", "cdc"] as const;

const csvOptions = z
  .strictObject({
    delimiter: z.string().min(1).max(4).optional(),
    header: z.boolean().optional(),
    quote: z.string().max(1).optional(),
    escape: z.string().max(1).optional(),
    encoding: z.enum(["utf-8", "utf8", "latin-1", "latin1", "iso-8859-1", "utf-16"]).optional(),
    skip: z.number().int().min(0).optional(),
    null: z.union([z.string(), z.array(z.string())]).optional(),
    comment: z.string().max(1).optional(),
    max_line_size: z.number().int().positive().optional(),
  })
  .describe("CSV dialect; every key optional, auto-detected when omitted");

const fileSource = z.strictObject({
  path: z.string().min(1, "must be a glob relative to the landing zone, like in/orders/*.csv"),
  format: z.enum(formats).optional(),
  options: csvOptions.optional(),
  on_malformed: z.enum(["quarantine", "drop", "fail"]).default("quarantine"),
  stable_for: duration.optional(),
  /** Avro: a reader schema (.avsc) each file's records are resolved to, by Avro's schema resolution rules. */
  avro_schema: z
    .string()
    .min(1, "must be a .avsc file inside the project, like schemas/payment.avsc")
    .optional()
    .describe(
      "Avro reader schema (.avsc), relative to the project folder: every file's records are resolved to it",
    ),
});

const sqlSource = z.strictObject({ sql: z.string().min(1) });
const tableSource = z.strictObject({ table: identifier });
/** An external database read by Sluice: `{ database: "postgres://…" | "mysql://…", table | query }`. */
const databaseSource = z
  .strictObject({
    database: z
      .string()
      .regex(
        /^(postgres|postgresql|mysql|mariadb):\/\//i,
        "expected postgres://user@host:5432/db or mysql://user@host:3306/db",
      ),
    table: identifier.optional(),
    query: z.string().min(1).optional(),
    /** PostgreSQL: read a big extract as `parts` ranges of an integer `key` at once, in one snapshot. */
    parallel: z.strictObject({ key: identifier, parts: z.number().int().min(2).max(16) }).optional(),
  })
  .refine((s) => (s.table === undefined) !== (s.query === undefined), {
    message: "needs exactly one of `table` or `query`",
  });
const sizePattern = /^\d+(\.\d+)?\s*(B|KB|MB|GB)$/i;
const natsStream = z.strictObject({
  kind: z.literal("nats"),
  url: z.string().min(1).default("nats://127.0.0.1:4222"),
  /** The JetStream stream (created by its owner; Sluice never creates or changes it). */
  stream: identifier,
  /** Subject filter of the consumer (default: every subject of the stream). */
  subject: z.string().min(1).optional(),
  /** Durable pull consumer, created when missing: workers sharing it split the messages. */
  durable: identifier,
  /** A message not acknowledged this long after delivery is delivered again (set when the consumer is created). */
  ack_wait: duration.default("30s"),
});
const redisStream = z.strictObject({
  kind: z.literal("redis"),
  url: z.string().min(1).default("redis://127.0.0.1:6379"),
  key: identifier,
  group: identifier,
  /** This worker's consumer name (default: host name and process id). */
  consumer: identifier.optional(),
  /** Entries another consumer left pending this long are taken over (XAUTOCLAIM). */
  claim_idle: duration.default("30s"),
});
/** A message stream read in micro-batches: `{ stream: { kind: nats | redis, ... }, batch, dead_letter }`. */
const streamSource = z.strictObject({
  stream: z.discriminatedUnion("kind", [natsStream, redisStream], {
    error: "expected { kind: nats, url, stream, durable } or { kind: redis, url, key, group }",
  }),
  batch: z
    .strictObject({
      max_rows: z.number().int().positive().default(10_000),
      max_bytes: z
        .union([z.number().int().positive(), z.string().regex(sizePattern, "expected a size like 16MB")])
        .default("16MB"),
      max_wait: duration.default("1s"),
    })
    .prefault({}),
  /** Poison messages are also republished here (NATS subject or Redis stream key). */
  dead_letter: z
    .union([z.strictObject({ subject: z.string().min(1) }), z.strictObject({ key: z.string().min(1) })])
    .optional(),
});

export const columnSchema = z.strictObject({
  type: z.string().min(1).optional(),
  format: z.string().min(1).optional(),
  /** Numbers written with another decimal separator (`,`) or with thousands separators (`.`, `,`, ` `, `'`). */
  decimal_separator: z.enum([".", ","]).optional(),
  thousands_separator: z.enum([".", ",", " ", "'"]).optional(),
  mask: z.enum(masks).optional(),
  rename: z.string().min(1).optional(),
});

const severity = z.enum(severities).default("error");
const checkBase = { severity, where: z.string().min(1).optional(), name: z.string().min(1).optional() };

export const checkSchema = z.discriminatedUnion("rule", [
  z.strictObject({ rule: z.literal("not_null"), columns: columnList, ...checkBase }),
  z.strictObject({ rule: z.literal("unique"), columns: columnList, ...checkBase }),
  z.strictObject({
    rule: z.literal("range"),
    column: identifier,
    min: z.union([z.number(), z.string()]).optional(),
    max: z.union([z.number(), z.string()]).optional(),
    inclusive: z.boolean().default(true),
    ...checkBase,
  }),
  z.strictObject({ rule: z.literal("regex"), column: identifier, pattern: z.string().min(1), ...checkBase }),
  z.strictObject({
    rule: z.literal("accepted_values"),
    column: identifier,
    values: z.array(z.union([z.string(), z.number(), z.boolean()])).min(1),
    ...checkBase,
  }),
  z.strictObject({
    rule: z.literal("length"),
    column: identifier,
    min: z.number().int().min(0).optional(),
    max: z.number().int().min(0).optional(),
    ...checkBase,
  }),
  z.strictObject({ rule: z.literal("type"), column: identifier, type: z.string().min(1), ...checkBase }),
  z.strictObject({
    rule: z.literal("date_format"),
    column: identifier,
    format: z.string().min(1),
    ...checkBase,
  }),
  z.strictObject({
    rule: z.literal("expression"),
    sql: z.string().min(1),
    /** The reason recorded for each failing row (default: `<sql> is false`). */
    message: z.string().min(1).optional(),
    ...checkBase,
  }),
  z.strictObject({
    rule: z.literal("foreign_key"),
    column: identifier,
    references: z.strictObject({ table: identifier, column: identifier }),
    ...checkBase,
  }),
  z.strictObject({
    rule: z.literal("outlier"),
    column: identifier,
    z_score: z.number().positive().default(3),
    ...checkBase,
  }),
  z.strictObject({
    rule: z.literal("row_count"),
    min: z.number().int().min(0).optional(),
    max: z.number().int().min(0).optional(),
    ...checkBase,
  }),
  z.strictObject({
    rule: z.literal("completeness"),
    column: identifier,
    min: z.number().min(0).max(1),
    ...checkBase,
  }),
  z.strictObject({
    rule: z.literal("uniqueness"),
    column: identifier,
    min: z.number().min(0).max(1),
    ...checkBase,
  }),
  z.strictObject({ rule: z.literal("freshness"), column: identifier, max_age: duration, ...checkBase }),
  z.strictObject({ rule: z.literal("schema"), columns: columnList, ...checkBase }),
]);

const lakeTarget = z.strictObject({
  table: identifier,
  format: z.enum(["delta", "parquet"]).default("delta"),
  partition_by: z.array(identifier).default([]),
  compression: z.enum(["zstd", "snappy", "gzip", "none"]).default("zstd"),
  target_file_size: z
    .string()
    .regex(/^\d+(\.\d+)?\s*(B|KB|MB|GB)$/i, "expected a size like 128MB")
    .default("128MB"),
  row_group_size: z.number().int().positive().default(100_000),
  mode: z.enum(["append", "overwrite", "replace_partitions", "merge"]).optional(),
  keys: z.array(identifier).optional(),
});

/** A target table's schema must not be `sluice`: that schema holds the catalog (runs, ledger, undo). */
const targetTable = identifier.refine((name) => !/^"?sluice"?\./i.test(name.trim()), {
  message: "the sluice schema holds Sluice's catalog (runs, ledger, quarantine); choose another schema",
});

export const targetSchema = z
  .strictObject({
    table: targetTable.optional(),
    mode: z.enum(writeModes).default("append"),
    keys: z.array(identifier).optional(),
    partition_by: z.array(identifier).optional(),
    track: z.array(identifier).optional(),
    close_deleted: z.boolean().optional(),
    cdc: z
      .strictObject({
        format: z.enum(["debezium", "flat"]).default("debezium"),
        op_column: z.string().optional(),
        order_by: z.string().optional(),
        soft_delete: z.boolean().default(false),
      })
      .optional(),
    lake: lakeTarget.optional(),
  })
  .refine((t) => t.table !== undefined || t.lake !== undefined, {
    message: "needs a warehouse `table`, a `lake` table, or both",
  });

export const nestedModes = ["json", "flatten", "tables"] as const;
/**
 * How nested JSON values land: kept as JSON columns (`json`), objects flattened to `parent__child`
 * columns (`flatten`), or flattened with arrays split into child tables (`tables`).
 */
export const nestedSchema = z.strictObject({
  mode: z.enum(nestedModes).default("json"),
  max_depth: z.number().int().min(1).max(32).default(5),
});

export const pipelineSchema = z.strictObject({
  description: z.string().optional(),
  source: z.union([fileSource, sqlSource, tableSource, databaseSource, streamSource], {
    error:
      "expected { path: <glob> }, { sql: <select> }, { table: <name> }, { database: <url>, table | query } or { stream: {...} }",
  }),
  columns: z.record(z.string(), columnSchema).default({}),
  naming: z.enum(["snake_case", "keep"]).default("snake_case"),
  nested: nestedSchema.optional(),
  derive: z.record(z.string(), z.string().min(1)).default({}),
  schema_evolution: z.enum(["evolve", "freeze", "discard_columns"]).default("evolve"),
  checks: z.array(checkSchema).default([]),
  max_failure_rate: z.number().min(0).max(1).default(0.05),
  dedupe: z
    .strictObject({
      keys: columnList,
      keep: z.enum(["first", "last", "none"]).default("last"),
      order_by: z.string().min(1).optional(),
    })
    .optional(),
  anomalies: z
    .strictObject({ z_score: z.number().positive().default(3), fail: z.boolean().default(false) })
    .optional(),
  target: targetSchema,
  incremental: z.strictObject({ cursor: identifier, lag: duration.optional() }).optional(),
  schedule: z.string().min(1).optional(),
  timezone: z.string().min(1).optional(),
  catch_up: z.enum(["once", "skip"]).default("once"),
  depends_on: z.array(identifier).default([]),
  late_data_window: duration.optional(),
  retries: z
    .strictObject({
      max: z.number().int().min(0).default(5),
      base: duration.default("1s"),
      max_delay: duration.default("60s"),
    })
    .optional(),
});

/** Whether `fetch` can post to the URL: http(s), no credentials before the host. */
function deliverableWebhook(url: string): boolean {
  try {
    const u = new URL(url);
    return (u.protocol === "http:" || u.protocol === "https:") && u.username === "" && u.password === "";
  } catch {
    return true; // reported by .url()
  }
}

export const projectSchema = z.strictObject({
  $schema: z.string().optional(),
  warehouse: z
    .string()
    .regex(
      /^(duckdb:|postgres:\/\/|postgresql:\/\/)/,
      "expected duckdb:<file> or postgres://user@host:5432/db",
    )
    .default("duckdb:warehouse.duckdb"),
  landing: z.string().min(1).default("landing"),
  lake: z.string().min(1).default("lake"),
  s3: z
    .strictObject({
      endpoint: z.string().optional(),
      region: z.string().optional(),
      force_path_style: z.boolean().optional(),
      access_key_id: z.string().optional(),
      secret_access_key: z.string().optional(),
      session_token: z.string().optional(),
    })
    .optional(),
  alerts: z
    .array(
      z.strictObject({
        webhook: z
          .string()
          .url()
          .refine((url) => deliverableWebhook(url), {
            message:
              "must be an http(s) URL without user:password@ (it could never be delivered): carry a token in the path or query string",
          }),
        on: z
          .array(z.enum(["failure", "threshold", "anomaly"]))
          .min(1)
          .default(["failure"]),
      }),
    )
    .default([]),
  lineage: z
    .union(
      [
        z.strictObject({ file: z.string().min(1) }),
        z.strictObject({
          url: z
            .string()
            .url()
            .refine((url) => deliverableWebhook(url), {
              message:
                "must be an http(s) URL without user:password@ (send a token in the path or query string)",
            }),
        }),
      ],
      { error: "expected { file: <path> } or { url: <http(s) endpoint> }" },
    )
    .optional(),
  pipelines: z
    .record(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, "pipeline names use letters, digits, _ and -"),
      pipelineSchema,
    )
    .refine((p) => Object.keys(p).length > 0, { message: "define at least one pipeline" }),
});

export type ProjectConfig = z.infer<typeof projectSchema>;
export type PipelineConfig = z.infer<typeof pipelineSchema>;
export type CheckConfig = z.infer<typeof checkSchema>;
export type ColumnConfig = z.infer<typeof columnSchema>;
export type TargetConfig = z.infer<typeof targetSchema>;
export type LakeTargetConfig = z.infer<typeof lakeTarget>;
export type FileSourceConfig = z.infer<typeof fileSource>;
export type SourceConfig = PipelineConfig["source"];
export type NestedConfig = z.infer<typeof nestedSchema>;
export type DatabaseSourceConfig = z.infer<typeof databaseSource>;
export type StreamSourceConfig = z.infer<typeof streamSource>;

export function isFileSource(source: SourceConfig): source is FileSourceConfig {
  return "path" in source;
}
