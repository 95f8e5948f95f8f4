/**
 * Whether an external service a test file needs (PostgreSQL, NATS, ...) is reachable. When `check`
 * fails: in CI (`CI=true`) it throws, failing the suite; elsewhere it prints why the tests are skipped
 * and returns false, for `describe.skipIf(!available)`.
 *
 * @example
 * const available = await serviceAvailable("PostgreSQL at $SLUICE_TEST_PG", () => pingPostgres(url));
 * describe.skipIf(!available)("postgres warehouse", () => { ... });
 */
export async function serviceAvailable(name: string, check: () => Promise<void>): Promise<boolean> {
  try {
    await check();
    return true;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (process.env.CI === "true") {
      throw new Error(`${name} is required when CI=true but is not available: ${reason}`, { cause: error });
    }
    console.warn(
      `[skipped] ${name} is not available (${reason}); its tests are skipped. With CI=true this fails.`,
    );
    return false;
  }
}
