import { fitsFileName } from "../plan/landing-paths.js";
import type { RunContext } from "./run-context.js";
import type { Attempt } from "./unit.js";

/**
 * Where each unit's raw form goes, decided before the publish (the ledger records it): archive/ for a
 * published or duplicate unit, unprocessed/ for one its data failed (once it is identified). A unit with
 * no raw form, or a failure that is not its data's (transient), stays where it is.
 */
export async function planDestinations(run: RunContext, attempt: Attempt): Promise<void> {
  const reserved = new Set<string>();
  // The destinations share their folders: each is looked at for links once (see Storage.batch).
  const done = run.project.landing.batch?.();
  try {
    await destinationsOf(run, attempt, reserved);
  } finally {
    done?.();
  }
}

async function destinationsOf(run: RunContext, attempt: Attempt, reserved: Set<string>): Promise<void> {
  for (const work of attempt.works) {
    const { report: file, unit } = work;
    // A failed file moves only for a data problem, and only once its content is known (hashed).
    if (!unit.raw || (file.status === "failed" && !(work.moveOnFailure && file.sha256 !== ""))) continue;
    if (run.options.keepInPlace) {
      file.archived_to = file.path;
      continue;
    }
    const area = file.status === "failed" ? "unprocessed" : "archive";
    const repair = work.priorLoads.find((p) => p.path === file.path && p.archivedTo !== null);
    if (
      file.status === "skipped_duplicate" &&
      repair?.archivedTo &&
      !reserved.has(repair.archivedTo) &&
      fitsFileName(repair.archivedTo)
    ) {
      // Crash repair: the file goes where its earlier load said it went.
      reserved.add(repair.archivedTo);
      file.archived_to = repair.archivedTo;
    } else {
      file.archived_to = await unit.raw.destination(run, area, reserved);
    }
  }
}
