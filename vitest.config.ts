import { defineConfig } from "vitest/config";
import { LongestFirstSequencer } from "./test/support/longest-first-sequencer.js";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // Processes a test left running (it timed out) are killed at the end of its file.
    setupFiles: ["test/support/kill-left-children.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Two forks: a third cut the suite's time by about half on two cores (it mostly waits), but the restart
    // tests (a private PostgreSQL or broker restarted under a worker) timed out with it; see bench/README.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // The longest files first, so that both forks stay busy to the end (see the sequencer).
    sequence: { sequencer: LongestFirstSequencer },
    reporters: ["default"],
  },
});
