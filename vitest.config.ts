import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["operator/**/*.test.ts", "contracts/**/*.test.ts", "e2e/**/*.unit.test.ts"],
        },
      },
      {
        test: {
          name: "e2e",
          include: ["e2e/**/*.e2e.test.ts"],
          // One shared test bed: e2e files run one after another, never in parallel.
          fileParallelism: false,
          globalSetup: ["e2e/testbed/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 900_000,
        },
      },
    ],
  },
});
