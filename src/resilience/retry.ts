import { SluiceError } from "../errors.js";

/** How {@link withRetry} retries. */
export interface RetryOptions {
  /** Retries after the first attempt (0 = try once). */
  readonly max: number;
  /** Backoff base: the n-th retry waits a random time in [0, min(maxDelayMs, baseMs * 2^(n-1))]. */
  readonly baseMs: number;
  /** Upper bound of one wait. */
  readonly maxDelayMs: number;
  /**
   * `full` (default): a wait is random in [0, cap]. `equal`: in [cap/2, cap], so the retries together
   * wait at least half their caps: enough to ride out an outage of known length (a server restart).
   */
  readonly jitter?: "full" | "equal" | undefined;
  /** Which errors are worth retrying; default: `SluiceError.transient`. */
  readonly isTransient?: ((error: unknown) => boolean) | undefined;
  /** Called before each wait with the failed attempt number (1-based), the error and the chosen delay. */
  readonly onRetry?: ((info: { attempt: number; error: unknown; delayMs: number }) => void) | undefined;
  /** Stops waiting and retrying; the abort reason is thrown. */
  readonly signal?: AbortSignal | undefined;
  /** Source of randomness in [0, 1) for the jitter (tests pin it). */
  readonly random?: (() => number) | undefined;
  /** How to wait (tests may replace it). */
  readonly sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
}

/** The default transient test: a SluiceError marked `transient`. */
export function isTransientError(error: unknown): boolean {
  return error instanceof SluiceError && error.transient;
}

/**
 * Runs `fn`, retrying transient failures with exponential backoff and full jitter.
 * A non-transient error is thrown at once, unchanged. When every attempt failed,
 * the last error is thrown annotated with the attempt count (see {@link attemptsOf}).
 *
 * @example
 * const rows = await withRetry(() => fetchPage(url), { max: 5, baseMs: 1000, maxDelayMs: 60_000 });
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const isTransient = options.isTransient ?? isTransientError;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? abortableSleep;
  const max = Math.max(0, Math.floor(options.max));
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (!isTransient(error)) throw error;
      if (attempt > max) throw annotateAttempts(error, attempt);
      const draw = options.jitter === "equal" ? () => 0.5 + random() / 2 : random;
      const delayMs = backoffDelay(attempt, options.baseMs, options.maxDelayMs, draw);
      options.onRetry?.({ attempt, error, delayMs });
      await sleep(delayMs, options.signal);
    }
  }
}

/**
 * The wait before retry number `retry` (1-based): full jitter over an exponential cap.
 *
 * @example
 * backoffDelay(3, 1000, 60_000, () => 0.5); // 2000 (half of 4000)
 */
export function backoffDelay(
  retry: number,
  baseMs: number,
  maxDelayMs: number,
  random: () => number,
): number {
  const cap = Math.min(maxDelayMs, baseMs * 2 ** Math.min(retry - 1, 52));
  return Math.floor(random() * Math.max(0, cap));
}

/**
 * How many attempts an error thrown by {@link withRetry} went through, when it gave up after retrying.
 *
 * @example
 * catch (error) { if ((attemptsOf(error) ?? 1) > 1) log.warn("gave up after retries"); }
 */
export function attemptsOf(error: unknown): number | undefined {
  const attempts = (error as { attempts?: unknown } | null)?.attempts;
  return typeof attempts === "number" ? attempts : undefined;
}

/**
 * Whether `error`, or an error it wraps, already used up a {@link withRetry} budget. A failure is
 * retried at one level only (the one closest to it): an outer retry skips it, so attempts never multiply.
 *
 * @example
 * withRetry(runOnce, { ...policy, isTransient: (e) => isTransientError(e) && !retriedBelow(e) });
 */
export function retriedBelow(error: unknown): boolean {
  let e = error as { cause?: unknown } | null | undefined;
  for (let depth = 0; e && depth < 16; depth++, e = e.cause as typeof e) {
    if (attemptsOf(e) !== undefined) return true;
  }
  return false;
}

/**
 * Marks `error` as having used up a retry budget at another level (an SDK that retried it `attempts`
 * times), so that {@link retriedBelow} sees it. Returns the error.
 */
export function markRetried<E>(error: E, attempts: number): E {
  if (error !== null && typeof error === "object" && attemptsOf(error) === undefined) {
    Object.defineProperty(error, "attempts", { value: attempts, enumerable: false, configurable: true });
  }
  return error;
}

function annotateAttempts(error: unknown, attempts: number): unknown {
  const suffix = ` (gave up after ${attempts} attempts)`;
  if (error instanceof SluiceError) {
    const annotated = new SluiceError(error.code, error.message + suffix, {
      cause: error,
      transient: error.transient,
      details: error.details,
    });
    Object.defineProperty(annotated, "attempts", { value: attempts, enumerable: false });
    return annotated;
  }
  if (error instanceof Error) {
    error.message += suffix;
    Object.defineProperty(error, "attempts", { value: attempts, enumerable: false, configurable: true });
  }
  return error;
}

/** Waits `ms`, or less when `signal` aborts (then rejects with its reason). */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
