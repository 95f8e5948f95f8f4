import type { ProjectConfig } from "../config/schema.js";
import { SluiceError } from "../errors.js";
import { redactUrl, redactUrls } from "../redact.js";
import { type CircuitBreaker, createCircuitBreaker } from "../resilience/circuit-breaker.js";
import { withRetry } from "../resilience/retry.js";
import type { RunReport } from "../run/run-report.js";

/** Why a run is alert-worthy. */
export type AlertEvent = "failure" | "threshold" | "anomaly";

/** Sends run alerts to webhooks without ever holding up or failing a run. */
export interface Alerter {
  /** Queues the alerts a run report calls for; returns at once. */
  notify(report: RunReport): void;
  /** Waits for queued alerts, at most `maxMs` (at process exit); what is still pending is dropped. */
  flush(maxMs?: number): Promise<void>;
}

/** Options of {@link createAlerter}. */
export interface AlerterOptions {
  /** Per-request timeout (default 5 s): a webhook that hangs is abandoned. */
  readonly timeoutMs?: number;
  /** Retries of a failed delivery (default 3, backoff from 200 ms). */
  readonly retries?: number;
  readonly retryBaseMs?: number;
  /** Where delivery problems are reported (stderr in the CLI). */
  readonly notice?: (message: string) => void;
}

/**
 * The events a run report represents: `failure` (the run failed), `threshold` (max_failure_rate or a
 * fatal check stopped it), `anomaly` (anomalies were reported). Pure.
 *
 * @example
 * alertEvents(report) // ["failure", "threshold"]
 */
export function alertEvents(report: RunReport): AlertEvent[] {
  const events: AlertEvent[] = [];
  if (report.status === "failed") events.push("failure");
  const errors = [report.error ?? "", ...report.files.map((f) => f.error ?? "")].join("\n");
  const fatal = report.checks.some((c) => c.severity === "fatal" && c.failed > 0);
  if (/max_failure_rate|threshold/i.test(errors) || fatal) events.push("threshold");
  const anomalies = (report as { anomalies?: readonly unknown[] }).anomalies;
  if (Array.isArray(anomalies) && anomalies.length > 0) events.push("anomaly");
  return events;
}

/**
 * The JSON body posted to a webhook: a Slack-compatible `text` plus the run's details. Pure.
 *
 * @example
 * alertPayload(report, ["failure"]).text // ":red_circle: sluice: pipeline orders failed (run …): …"
 */
export function alertPayload(report: RunReport, events: readonly AlertEvent[]): Record<string, unknown> {
  const { rows } = report;
  const icon = events.includes("failure") ? ":red_circle:" : ":warning:";
  const what = report.status === "failed" ? "failed" : events.join(", ");
  const text = `${icon} sluice: pipeline ${report.pipeline} ${what} (run ${report.run_id || "-"}): read ${rows.read}, loaded ${rows.loaded}, quarantined ${rows.quarantined}${report.error ? ` — ${report.error}` : ""}`;
  return {
    text,
    events,
    pipeline: report.pipeline,
    run_id: report.run_id,
    status: report.status,
    rows,
    error: report.error,
    files: report.files.map((f) => ({ path: f.path, status: f.status, error: f.error })),
    started_at: report.started_at,
    finished_at: report.finished_at,
  };
}

/**
 * Creates the alerter for a project's `alerts:`. Deliveries are fire-and-forget: each POST has a
 * timeout, is retried with backoff, and goes through a circuit breaker per webhook, so a dead or hanging
 * webhook costs a run nothing.
 *
 * @example
 * const alerter = createAlerter(config.alerts, { notice: console.error });
 * alerter.notify(report); ...; await alerter.flush(5000);
 */
export function createAlerter(alerts: ProjectConfig["alerts"], options: AlerterOptions = {}): Alerter {
  const pending = new Set<Promise<void>>();
  const breakers = new Map<string, CircuitBreaker>();
  const timeoutMs = options.timeoutMs ?? 5000;
  // Aborted when flush gives up: nothing may keep the process alive after its bounded wait.
  const stop = new AbortController();
  const breakerFor = (url: string): CircuitBreaker => {
    let breaker = breakers.get(url);
    if (!breaker) {
      breaker = createCircuitBreaker({ name: `webhook ${redact(url)}`, failureThreshold: 5, openMs: 60_000 });
      breakers.set(url, breaker);
    }
    return breaker;
  };
  const post = async (url: string, body: Record<string, unknown>): Promise<void> => {
    await withRetry(
      () =>
        breakerFor(url).run(async () => {
          let response: Response;
          try {
            response = await fetch(url, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify(body),
              signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), stop.signal]),
            });
          } catch (error) {
            if (stop.signal.aborted) throw error;
            const reason =
              (error as Error).name === "TimeoutError"
                ? `no answer within ${timeoutMs} ms`
                : redactUrls((error as Error).message);
            throw new SluiceError("INTERNAL", `webhook ${redact(url)}: ${reason}`, { transient: true });
          }
          await response.arrayBuffer().catch(() => undefined);
          if (!response.ok) {
            throw new SluiceError("INTERNAL", `webhook ${redact(url)}: HTTP ${response.status}`, {
              transient: response.status >= 500 || response.status === 429,
            });
          }
        }),
      {
        max: options.retries ?? 3,
        baseMs: options.retryBaseMs ?? 200,
        maxDelayMs: 5000,
        signal: stop.signal,
      },
    );
  };
  return {
    notify(report) {
      const events = alertEvents(report);
      if (events.length === 0) return;
      for (const alert of alerts) {
        const matching = events.filter((e) => alert.on.includes(e));
        if (matching.length === 0) continue;
        const delivery = post(alert.webhook, alertPayload(report, matching)).catch((error: unknown) =>
          options.notice?.(`alert not delivered: ${(error as Error).message}`),
        );
        pending.add(delivery);
        void delivery.finally(() => pending.delete(delivery));
      }
    },
    async flush(maxMs = 5000) {
      if (pending.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((done) => {
        timer = setTimeout(done, maxMs);
      });
      await Promise.race([Promise.allSettled([...pending]).then(() => undefined), deadline]);
      clearTimeout(timer);
      if (pending.size > 0) {
        options.notice?.(`${pending.size} alert(s) still pending after ${maxMs} ms were dropped`);
        stop.abort(new SluiceError("INTERNAL", "alert delivery stopped at exit"));
      }
    },
  };
}

/** A webhook URL without credentials, path or query (Slack hooks carry the token in the path). */
function redact(url: string): string {
  return redactUrl(url, { keepPath: false });
}
