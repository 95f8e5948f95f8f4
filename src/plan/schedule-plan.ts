import { Cron } from "croner";

/**
 * Why a `schedule:` / `timezone:` pair is unusable, or null when it is fine. Pure.
 *
 * @example
 * cronProblem("0 2 * * *", "Europe/Paris") // null
 * cronProblem("61 * * * *") // "invalid cron expression \"61 * * * *\": Invalid value for minute: 61"
 */
export function cronProblem(expression: string, timezone?: string): string | null {
  if (timezone !== undefined) {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    } catch {
      return `unknown time zone ${JSON.stringify(timezone)} (use an IANA name like Europe/Paris or UTC)`;
    }
  }
  try {
    const cron = new Cron(expression, { paused: true, ...(timezone ? { timezone } : {}) });
    if (cron.nextRun(new Date(0)) === null)
      return `cron expression ${JSON.stringify(expression)} never fires`;
    cron.stop();
    return null;
  } catch (error) {
    const reason = error instanceof Error ? error.message.replace(/^CronPattern: /, "") : String(error);
    return `invalid cron expression ${JSON.stringify(expression)}: ${reason} (expected 5 or 6 fields, like "0 2 * * *")`;
  }
}

/**
 * The next fire time of a schedule strictly after `after`, or null. Pure.
 *
 * @example
 * nextFire("0 2 * * *", "UTC", new Date("2026-01-01T03:00:00Z")) // 2026-01-02T02:00:00Z
 */
export function nextFire(expression: string, timezone: string | undefined, after: Date): Date | null {
  const cron = new Cron(expression, { paused: true, ...(timezone ? { timezone } : {}) });
  const next = cron.nextRun(after);
  cron.stop();
  return next;
}

/**
 * The schedule time a daemon missed while it was down: the latest fire time after `lastFire` and at or
 * before `now`, or null when none was missed (or nothing was ever recorded: a first start runs nothing
 * retroactively). Pure.
 *
 * @example
 * missedFire("0 2 * * *", "UTC", new Date("2026-01-01T02:00:00Z"), new Date("2026-01-03T09:00:00Z"))
 * // 2026-01-03T02:00:00Z (two were missed; catch_up: once runs one)
 */
export function missedFire(
  expression: string,
  timezone: string | undefined,
  lastFire: Date | null,
  now: Date,
): Date | null {
  if (lastFire === null) return null;
  let latest: Date | null = null;
  let cursor = lastFire;
  // Walk forward; bounded so a per-second schedule after a long outage stays cheap.
  for (let i = 0; i < 100_000; i++) {
    const next = nextFire(expression, timezone, cursor);
    if (next === null || next.getTime() > now.getTime()) break;
    latest = next;
    cursor = next;
  }
  return latest;
}
