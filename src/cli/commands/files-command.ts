import { isAbsolute, win32 } from "node:path";
import type { Command } from "commander";
import { SluiceError } from "../../errors.js";
import type { ProjectContext } from "../../run/project-context.js";
import { type FileVersion, fileVersions, restoreFileVersion } from "../../runner/file-versions.js";
import { type GlobalOptions, openProject, readCatalog } from "../command-context.js";
import { createOutput, table } from "../output.js";

/** `sluice files versions <name> [--json]` and `sluice files restore <name> --version <n>` */
export function registerFilesCommand(program: Command): void {
  const files = program.command("files").description("source files Sluice has received");
  files
    .command("versions")
    .description(
      "every received version of a source file name, newest first: time, size, sha256, run, archive location",
    )
    .argument("<name>", "a file name (matched in any folder) or a landing-relative path")
    .option("--pipeline <name>", "only this pipeline's files")
    .option("--json", "print JSON", false)
    .action(async (name: string, opts: { pipeline?: string; json: boolean }, cmd: Command) => {
      const output = createOutput(opts.json);
      const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output, "reads");
      // Newest first, like every list Sluice prints; the numbers stay 1 for the first received.
      const versions = [...(await readVersions(ctx, name, opts.pipeline))].reverse();
      if (opts.json) {
        output.document({ name, versions });
        return;
      }
      if (versions.length === 0) {
        output.line(`no versions of ${name} received yet`);
        return;
      }
      output.line(
        table(
          versions.map((v) => ({ ...v, sha256: v.sha256.slice(0, 12), archived_to: v.archived_to ?? "-" })),
          ["version", "received_at", "pipeline", "path", "size", "sha256", "run_id", "status", "archived_to"],
        ),
      );
    });
  files
    .command("restore")
    .description("copy an archived version back into the landing zone for re-processing")
    .argument("<name>", "a file name or landing-relative path, as for `files versions`")
    .requiredOption("--version <n>", "the version number shown by `files versions`")
    .option("--pipeline <name>", "only this pipeline's files")
    .option("--to <path>", "landing-relative destination (default: where the file arrived)")
    .option("--json", "print JSON", false)
    .action(
      async (
        name: string,
        opts: { version: string; pipeline?: string; to?: string; json: boolean },
        cmd: Command,
      ) => {
        const output = createOutput(opts.json);
        if (opts.to !== undefined) checkLandingRelative(opts.to);
        const n = Number.parseInt(opts.version, 10);
        if (!Number.isInteger(n) || n <= 0 || String(n) !== opts.version.trim()) {
          throw new SluiceError("USAGE", `--version ${opts.version}: expected a version number (1, 2, ...)`);
        }
        // Putting an archived file back loads nothing: no salt, no landing sample.
        const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output, "reads");
        const versions = await readVersions(ctx, name, opts.pipeline);
        const version = versions.find((v) => v.version === n);
        if (!version) {
          // Naming a version nothing was recorded for is a usage error, like an unknown run.
          throw new SluiceError(
            "USAGE",
            versions.length === 0
              ? `no versions of ${name} received yet`
              : `${name}: no version ${n} (versions 1 to ${versions.length}; see sluice files versions ${name})`,
          );
        }
        const restored = await restoreFileVersion(ctx.landing, version, opts.to);
        if (opts.json) {
          output.document({ ...version, restored_to: restored });
          return;
        }
        output.line(`restored version ${n} of ${version.path} (${version.received_at}) to ${restored}`);
        // A rolled back (or failed) load leaves the content unloaded: the next run loads it as usual.
        const loaded = versions.some((v) => v.sha256 === version.sha256 && v.status === "loaded");
        output.line(
          loaded
            ? `its content was already loaded: reload it with \`sluice run ${version.pipeline} --force --file ${restored}\``
            : `its content is not loaded now: the next \`sluice run ${version.pipeline}\` loads it`,
        );
      },
    );
}

/** `--to` names a place inside the landing zone, relative to it: not an absolute path, no `..`. */
function checkLandingRelative(to: string): void {
  if (isAbsolute(to) || win32.isAbsolute(to) || to.split(/[\\/]/).includes("..") || to.trim() === "") {
    throw new SluiceError(
      "USAGE",
      `--to ${to}: give a path inside the landing zone, relative to it (e.g. in/orders/a.csv)`,
    );
  }
}

async function readVersions(ctx: ProjectContext, name: string, pipeline?: string): Promise<FileVersion[]> {
  return [...(await readCatalog(ctx, (warehouse) => fileVersions(warehouse, name, pipeline)))];
}
