import { defineConfig } from "vitest/config";
import { LongestFirstSequencer } from "./test/support/longest-first-sequencer.js";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Three forks on two cores: the suite waits on brokers, servers and child processes more than it
    // computes (about half the CPU was used with two forks), and a third fork cut its wall time by a third.
    poolOptions: { forks: { maxForks: 3, minForks: 1 } },
    // The longest files first, so that both forks stay busy to the end (see the sequencer).
    sequence: { sequencer: LongestFirstSequencer },
    reporters: ["default"],
  },
});
