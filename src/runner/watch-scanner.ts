import { mkdirSync } from "node:fs";
import { type FSWatcher, watch } from "chokidar";
import { isFileSource, type PipelineConfig } from "../config/schema.js";
import { asSluiceError } from "../errors.js";
import { discoverFiles, globBase } from "../run/discover-files.js";
import type { ProjectContext } from "../run/project-context.js";
import type { StableFiles } from "./stable-files.js";
import type { WatchTask } from "./watch-queue.js";

/** The landing zone as the daemon watches it: scans, the file watcher, and files awaiting a schedule. */
export interface LandingScanner {
  /** Starts the file-system watcher (local landing zones) and the periodic rescan. */
  start(): Promise<void>;
  /** A scan soon (coalesced with one in progress). */
  scheduleScan(delayMs: number): void;
  /** The files a run takes: a scheduled file pipeline takes those waiting for its schedule. */
  filesFor(name: string, task: WatchTask): string[] | undefined;
  /** After a run given files: what is left in the landing zone counts as settled, and a rescan follows. */
  afterRun(name: string, pipeline: PipelineConfig): Promise<void>;
  stop(): Promise<void>;
}

/** What the scanner works with. */
export interface LandingScannerDeps {
  readonly ctx: ProjectContext;
  readonly watchedForFiles: readonly string[];
  readonly scheduledFilePipelines: ReadonlySet<string>;
  readonly stable: StableFiles;
  readonly pollMs: number;
  readonly event: (message: string) => void;
  /** Stable files of an unscheduled pipeline: a run. */
  readonly onReady: (pipeline: string, files: readonly string[]) => void;
}

/**
 * Finds stable files: lists each watched pipeline's glob on file-system events (local), every `pollMs`
 * and when a file's stability deadline passes; hands ready files to a run, or keeps them for the
 * schedule of a scheduled file pipeline.
 *
 * @example
 * const scanner = createLandingScanner({ ctx, watchedForFiles, ..., onReady: (p, files) => enqueue(p, "files arrived", files) });
 * await scanner.start();
 */
export function createLandingScanner(deps: LandingScannerDeps): LandingScanner {
  const { ctx, stable, event } = deps;
  const { pipelines } = ctx.project.config;
  const waitingFiles = new Map<string, Set<string>>(); // scheduled file pipelines: stable files awaiting the schedule
  let stopping = false;
  let scanTimer: NodeJS.Timeout | undefined;
  let checkTimer: NodeJS.Timeout | undefined;
  let pollTimer: NodeJS.Timeout | undefined;
  let scanning: Promise<void> | undefined;
  let rescanWanted = false;
  let watcher: FSWatcher | undefined;

  const scan = async (): Promise<void> => {
    for (const name of deps.watchedForFiles) {
      const source = pipelines[name]!.source as { path: string };
      try {
        stable.observe(name, await discoverFiles(ctx.landing, source.path), Date.now());
      } catch (error) {
        event(`${name}: cannot list ${ctx.landing.root}: ${asSluiceError(error).message}`);
      }
    }
    const { ready, nextCheckAt } = stable.take(Date.now());
    for (const [name, files] of ready) {
      if (deps.scheduledFilePipelines.has(name)) {
        const waiting = waitingFiles.get(name) ?? new Set();
        for (const f of files) waiting.add(f);
        waitingFiles.set(name, waiting);
      } else deps.onReady(name, files);
    }
    clearTimeout(checkTimer);
    if (nextCheckAt !== undefined && !stopping) {
      checkTimer = setTimeout(() => scheduleScan(0), Math.max(0, nextCheckAt - Date.now()) + 5);
    }
  };

  const scheduleScan = (delayMs: number): void => {
    if (stopping) return;
    if (scanning) {
      rescanWanted = true;
      return;
    }
    clearTimeout(scanTimer);
    scanTimer = setTimeout(() => {
      scanning = scan().finally(() => {
        scanning = undefined;
        if (rescanWanted) {
          rescanWanted = false;
          scheduleScan(0);
        }
      });
    }, delayMs);
  };

  /** Watches the base folder of each local glob (created when missing). */
  const watchLocal = async (): Promise<void> => {
    const folders = [
      ...new Set(
        deps.watchedForFiles.map((n) =>
          globBase((pipelines[n]!.source as { path: string }).path.replace(/^\.?\//, "")),
        ),
      ),
    ];
    const paths = folders.flatMap((f) => {
      // A folder reached through a symbolic link is not watched (nor created); rescans report it.
      try {
        const local = ctx.landing.localPath(f)!;
        mkdirSync(local, { recursive: true });
        return [local];
      } catch (error) {
        event(`${f}: not watched: ${asSluiceError(error).message}`);
        return [];
      }
    });
    watcher = watch(paths, { ignoreInitial: true, persistent: true });
    watcher.on("all", () => scheduleScan(15));
    watcher.on("error", (error) => event(`file watcher: ${String(error)}; relying on rescans`));
    await new Promise<void>((r) => watcher!.once("ready", () => r()));
  };

  return {
    async start() {
      if (deps.watchedForFiles.length === 0) return;
      if (ctx.landing.kind === "local") await watchLocal();
      pollTimer = setInterval(() => scheduleScan(0), deps.pollMs);
      scheduleScan(0);
    },
    scheduleScan,
    filesFor(name, task) {
      if (!isFileSource(pipelines[name]!.source)) return undefined;
      if (deps.scheduledFilePipelines.has(name)) {
        const waiting = waitingFiles.get(name) ?? new Set();
        waitingFiles.delete(name);
        return [...waiting];
      }
      return task.files ? [...task.files] : [];
    },
    async afterRun(name, pipeline) {
      if (!isFileSource(pipeline.source)) return;
      try {
        const left = await discoverFiles(ctx.landing, pipeline.source.path);
        stable.settled(name, left, Date.now());
      } catch (error) {
        event(`${name}: listing after the run failed: ${asSluiceError(error).message}`);
      }
      scheduleScan(0);
    },
    async stop() {
      stopping = true;
      clearTimeout(scanTimer);
      clearTimeout(checkTimer);
      clearInterval(pollTimer);
      await watcher?.close();
      await scanning?.catch(() => undefined);
    },
  };
}
