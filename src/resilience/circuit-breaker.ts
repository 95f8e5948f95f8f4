import { formatDuration } from "../durations.js";
import { firstLine, SluiceError } from "../errors.js";

export type CircuitState = "closed" | "open" | "half-open";

/** Options of {@link createCircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** The guarded system, named in messages (e.g. `S3 s3://bucket/landing`). */
  readonly name: string;
  /** Consecutive failures that open the circuit. Default 5. */
  readonly failureThreshold?: number;
  /** How long the circuit stays open before one probe call is let through. Default 60 s. */
  readonly openMs?: number;
  /** Which errors count as failures of the system; default: every error. Others count as successes. */
  readonly isFailure?: ((error: unknown) => boolean) | undefined;
  /** Clock (tests inject a fake one). */
  readonly now?: (() => number) | undefined;
}

/** A circuit breaker guarding calls to one external system. */
export interface CircuitBreaker {
  readonly name: string;
  /** Current state; an open circuit whose wait is over reports `half-open`. */
  state(): CircuitState;
  /** Consecutive failures counted so far. */
  failures(): number;
  /**
   * Runs `fn` unless the circuit is open; then throws SluiceError `CIRCUIT_OPEN` at once.
   * In half-open state exactly one call (the probe) runs; its success closes the circuit.
   */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** Closes the circuit and forgets failures. */
  reset(): void;
}

// Every breaker this process created and still holds, weakly: `/metrics` reports their states, and one
// dropped with its storage or warehouse leaves with it.
const held = new Set<WeakRef<CircuitBreaker>>();

/**
 * The circuit breakers this process holds now (those not garbage-collected yet), oldest first.
 *
 * @example
 * for (const b of heldCircuitBreakers()) console.log(b.name, b.state());
 */
export function heldCircuitBreakers(): CircuitBreaker[] {
  const live: CircuitBreaker[] = [];
  for (const ref of held) {
    const breaker = ref.deref();
    if (breaker) live.push(breaker);
    else held.delete(ref);
  }
  return live;
}

/**
 * Creates a circuit breaker: after `failureThreshold` consecutive failures it opens and calls
 * fail fast with `CIRCUIT_OPEN`; after `openMs` one probe is allowed; a successful probe closes it,
 * a failed one opens it again for another `openMs`.
 *
 * @example
 * const breaker = createCircuitBreaker({ name: "PostgreSQL db.internal:5432", failureThreshold: 5, openMs: 60_000 });
 * const rows = await breaker.run(() => client.query(sql));
 */
export function createCircuitBreaker(options: CircuitBreakerOptions): CircuitBreaker {
  const threshold = Math.max(1, options.failureThreshold ?? 5);
  const openMs = Math.max(0, options.openMs ?? 60_000);
  const now = options.now ?? Date.now;
  const isFailure = options.isFailure ?? (() => true);
  let consecutiveFailures = 0;
  let openedAt: number | undefined;
  let probeInFlight = false;
  let lastError: unknown;

  const state = (): CircuitState => {
    if (openedAt === undefined) return "closed";
    return now() - openedAt >= openMs ? "half-open" : "open";
  };

  const openError = (): SluiceError => {
    const retryAt = (openedAt ?? now()) + openMs;
    const wait = Math.max(0, retryAt - now());
    // One line: what failed last, that the breaker is open, and when calls are tried again.
    const last =
      lastError instanceof Error
        ? ` (${firstLine(lastError.message).replace(/ \(gave up after \d+ attempts\)$/, "")})`
        : "";
    const when =
      probeInFlight && wait === 0
        ? "a probe call is in progress"
        : `calls fail fast for ${formatDuration(wait)} (until ${new Date(retryAt).toISOString()})`;
    return new SluiceError(
      "CIRCUIT_OPEN",
      `${options.name} is unavailable${last}; circuit breaker open after ${consecutiveFailures} consecutive failures: ${when}`,
      { transient: true, cause: lastError },
    );
  };

  const succeed = (): void => {
    consecutiveFailures = 0;
    openedAt = undefined;
    lastError = undefined;
  };

  const fail = (error: unknown): void => {
    consecutiveFailures++;
    lastError = error;
    if (openedAt !== undefined || consecutiveFailures >= threshold) openedAt = now();
  };

  const breaker: CircuitBreaker = {
    name: options.name,
    state,
    failures: () => consecutiveFailures,
    async run(fn) {
      const current = state();
      if (current === "open") throw openError();
      const probing = current === "half-open";
      if (probing) {
        if (probeInFlight) throw openError();
        probeInFlight = true;
      }
      try {
        const result = await fn();
        succeed();
        return result;
      } catch (error) {
        if (isFailure(error)) fail(error);
        else succeed();
        throw error;
      } finally {
        if (probing) probeInFlight = false;
      }
    },
    reset: succeed,
  };
  held.add(new WeakRef(breaker));
  return breaker;
}
