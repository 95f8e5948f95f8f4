import { Cron } from "croner";
import type { ProjectConfig } from "../config/schema.js";
import { missedFire } from "../plan/schedule-plan.js";

/** A scheduled pipeline's trigger: the schedule time it stands for. */
export interface ScheduleFire {
  readonly pipeline: string;
  readonly at: Date;
  /** True when this fire is a catch-up of a time missed while no daemon ran. */
  readonly catchUp: boolean;
}

/** Running cron timers of a project. */
export interface Scheduler {
  /** The pipelines with a schedule, and their next fire time. */
  next(): { pipeline: string; at: Date | null }[];
  stop(): void;
}

/**
 * Starts one cron timer per pipeline with a `schedule:` (in its `timezone:`, default the system's).
 * Before that, reports at most one missed fire per pipeline (`catch_up: once`) based on `lastFires`
 * from the catalog; `catch_up: skip` ignores missed times. Overlap is the caller's concern (the
 * daemon queues one run per pipeline at a time).
 *
 * @example
 * const scheduler = startScheduler(config, await readLastFires(warehouse), (fire) => queue(fire));
 */
export function startScheduler(
  config: ProjectConfig,
  lastFires: ReadonlyMap<string, Date>,
  onFire: (fire: ScheduleFire) => void,
  now: Date = new Date(),
): Scheduler {
  const timers: { pipeline: string; cron: Cron }[] = [];
  for (const [pipeline, spec] of Object.entries(config.pipelines)) {
    if (!spec.schedule) continue;
    const timezone = spec.timezone;
    if (spec.catch_up === "once") {
      const missed = missedFire(spec.schedule, timezone, lastFires.get(pipeline) ?? null, now);
      if (missed) onFire({ pipeline, at: missed, catchUp: true });
    }
    const cron = new Cron(
      spec.schedule,
      { ...(timezone ? { timezone } : {}), protect: true },
      (self: Cron) => {
        const at = self.currentRun() ?? new Date();
        onFire({ pipeline, at, catchUp: false });
      },
    );
    timers.push({ pipeline, cron });
  }
  return {
    next: () => timers.map((t) => ({ pipeline: t.pipeline, at: t.cron.nextRun() })),
    stop: () => {
      for (const t of timers) t.cron.stop();
    },
  };
}
