import type { PipelineConfig } from "../config/schema.js";
import type { RunReport } from "../run/run-report.js";
import { databaseSourcePath } from "../sources/stage-database-source.js";

/** Where datasets live, as OpenLineage namespaces. */
export interface LineageNamespaces {
  /** Landing files (`file:///abs/landing` or `s3://bucket/prefix`). */
  readonly landing: string;
  /** The warehouse (`duckdb:///abs/warehouse.duckdb`, `postgres://host:5432`). */
  readonly warehouse: string;
  /** Name prefix of warehouse tables (`<database>.` on PostgreSQL, "" for DuckDB). */
  readonly warehousePrefix: string;
  readonly lake: string;
}

export const LINEAGE_PRODUCER = "https://www.npmjs.com/package/sluice";
const SPEC = "https://openlineage.io/spec";
const facet = (schemaUrl: string) => ({ _producer: LINEAGE_PRODUCER, _schemaURL: schemaUrl });

/** An OpenLineage RunEvent (only the parts Sluice fills). */
export interface RunEvent {
  readonly eventType: "START" | "COMPLETE" | "FAIL";
  readonly eventTime: string;
  readonly producer: string;
  readonly schemaURL: string;
  readonly run: { runId: string; facets: Record<string, unknown> };
  readonly job: { namespace: string; name: string; facets: Record<string, unknown> };
  readonly inputs: unknown[];
  readonly outputs: unknown[];
}

function tableName(ns: LineageNamespaces, table: string): string {
  return `${ns.warehousePrefix}${table.includes(".") ? table : ns.warehousePrefix ? `public.${table}` : `main.${table}`}`;
}

/**
 * The OpenLineage RunEvent of a run: START (inputs and outputs as planned), or COMPLETE / FAIL with
 * landing files (or the upstream table) as inputs carrying the data-quality assertions and metrics, and
 * the warehouse and lake tables as outputs with their schema and row counts. Pure.
 *
 * @example
 * const event = runEvent("COMPLETE", { runId, pipeline: "orders", config, report, namespaces, at: new Date() });
 */
export function runEvent(
  eventType: RunEvent["eventType"],
  r: {
    readonly runId: string;
    readonly pipeline: string;
    readonly config: PipelineConfig;
    readonly report?: RunReport | undefined;
    readonly namespaces: LineageNamespaces;
    readonly at: Date;
  },
): RunEvent {
  const { config, report, namespaces: ns } = r;
  const final = eventType !== "START" && report !== undefined;
  const assertions = (report?.checks ?? []).map((c) => ({
    assertion: c.name,
    success: c.failed === 0,
    ...(/^\w+\((\w+)\)$/.test(c.name) ? { column: /^\w+\((\w+)\)$/.exec(c.name)![1] } : {}),
  }));
  const inputFacets = final
    ? {
        dataQualityAssertions: {
          ...facet(
            `${SPEC}/facets/1-0-1/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet`,
          ),
          assertions,
        },
        dataQualityMetrics: {
          ...facet(
            `${SPEC}/facets/1-0-2/DataQualityMetricsInputDatasetFacet.json#/$defs/DataQualityMetricsInputDatasetFacet`,
          ),
          rowCount: report.rows.read,
          columnMetrics: {},
        },
      }
    : undefined;
  const source = config.source;
  const inputs: unknown[] = [];
  if ("path" in source) {
    const files = report?.files.filter((f) => f.status !== "skipped_duplicate") ?? [];
    for (const f of files)
      inputs.push({ namespace: ns.landing, name: f.path, ...(inputFacets ? { inputFacets } : {}) });
    if (files.length === 0 && !final) inputs.push({ namespace: ns.landing, name: source.path });
  } else if ("database" in source) {
    inputs.push({ namespace: "database", name: databaseSourcePath(r.pipeline, source) });
  } else if ("table" in source) {
    inputs.push({
      namespace: ns.warehouse,
      name: tableName(ns, source.table),
      ...(inputFacets ? { inputFacets } : {}),
    });
  }
  const declared = Object.entries(config.columns)
    .filter(([, c]) => c.mask !== "drop")
    .map(([name, c]) => ({ name, ...(c.type ? { type: c.type } : {}) }));
  const datasetFacets =
    declared.length > 0
      ? {
          schema: {
            ...facet(`${SPEC}/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet`),
            fields: declared,
          },
        }
      : {};
  const outputFacets =
    final && report.status === "succeeded"
      ? {
          outputStatistics: {
            ...facet(
              `${SPEC}/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet`,
            ),
            rowCount: report.rows.loaded,
          },
        }
      : undefined;
  const outputs: unknown[] = [];
  const target = config.target;
  if (target.table) {
    outputs.push({
      namespace: ns.warehouse,
      name: tableName(ns, target.table),
      facets: datasetFacets,
      ...(outputFacets ? { outputFacets } : {}),
    });
  }
  if (target.lake) {
    outputs.push({
      namespace: ns.lake,
      name: target.lake.table,
      facets: datasetFacets,
      ...(outputFacets ? { outputFacets } : {}),
    });
  }
  return {
    eventType,
    eventTime: r.at.toISOString(),
    producer: LINEAGE_PRODUCER,
    schemaURL: `${SPEC}/2-0-2/OpenLineage.json#/$defs/RunEvent`,
    run: {
      runId: r.runId,
      facets: {
        sluice: {
          ...facet(`${LINEAGE_PRODUCER}#/facets/SluiceRunFacet`),
          run_id: report?.run_id || null,
          pipeline: r.pipeline,
        },
        ...(eventType === "FAIL" && report?.error
          ? {
              errorMessage: {
                ...facet(`${SPEC}/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet`),
                message: report.error,
                programmingLanguage: "SQL",
              },
            }
          : {}),
      },
    },
    job: { namespace: "sluice", name: r.pipeline, facets: {} },
    inputs,
    outputs,
  };
}
