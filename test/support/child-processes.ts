import type { ChildProcess } from "node:child_process";

const alive = new Set<ChildProcess>();

/**
 * Kills `child` at the end of its test file (see {@link killLeftChildren}, a setup file's afterAll): a
 * test that times out abandons its `sluice` process, and the file's fork ends without running its exit
 * handlers, taking the child's own kill timer along; the child would run on (a worker on a deleted
 * stream retries forever) and load the machine for the rest of the suite.
 */
export function killOnExit<T extends ChildProcess>(child: T): T {
  alive.add(child);
  child.once("exit", () => alive.delete(child));
  return child;
}

/** Kills the children of this test file still running (SIGKILL). */
export function killLeftChildren(): void {
  for (const c of alive) c.kill("SIGKILL");
  alive.clear();
}
