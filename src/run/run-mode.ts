import { maskSaltSql, setMaskSalt } from "../engine/check-file.js";
import { lakeSequence } from "./lake-publish.js";
import { numericColumns } from "./publish-run.js";
import { needsChecking, type RunContext, type RunMode } from "./run-context.js";
import { singlePassAllowed } from "./single-pass.js";
import { stageForeignKeys } from "./stage-foreign-keys.js";

/** The run's sequence number: the catalog's next, past any a lake commit used. */
export async function runSequence(run: RunContext, report: { sequence: number }): Promise<number> {
  // A run that died between its lake commit and its warehouse commit used a sequence the catalog never saw.
  const pastLake = (await lakeSequence(run.project, run.con, run.name, run.configured)) + 1;
  report.sequence = await run.warehouse.nextSequence(run.name, pastLake);
  return report.sequence;
}

/**
 * The mode of a run's first attempt: the keys its `foreign_key` checks look up (staged once for every
 * attempt) and whether the single pass is allowed.
 */
export async function decideMode(run: RunContext, units: number, sequence: number): Promise<RunMode> {
  const { warehouse, name, configured: pipeline } = run;
  const foreignKeys = pipeline.checks.some((c) => c.rule === "foreign_key")
    ? await stageForeignKeys(warehouse, run.project.project.config, name, pipeline, "sluice_r", maskSaltSql)
    : undefined;
  if (run.hasMasks || foreignKeys?.hashes) await setMaskSalt(run.con, process.env.SLUICE_MASK_SALT ?? "");
  const runShape = {
    files: units,
    sumColumns: numericColumns(pipeline),
    query: run.query,
    replay: run.options.replay,
    mergesOnStage: !warehouse.capabilities.stagesInPlace,
  };
  let singlePass = singlePassAllowed(pipeline, runShape);
  if (singlePass && needsChecking(pipeline)) {
    // Asked of the catalog only when the answer can matter.
    const lastRunRemovedRows = await warehouse.lastRunRemovedRows(name);
    singlePass = singlePassAllowed(pipeline, { ...runShape, lastRunRemovedRows });
  }
  return { pipeline, singlePass, sequence, foreignKeys };
}
