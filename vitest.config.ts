import { defineConfig } from "vitest/config";

// Two projects: fast unit tests beside the code, and integration tests that
// need a real Docker Engine (DOCKER_HOST) to start a dockerd-in-docker per suite.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["src/**/*.test.ts", "test/unit/**/*.test.ts"],
          testTimeout: 20_000,
          // Unit tests first: a broken parser should fail in seconds, not after the dinds.
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/integration/support/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 240_000,
          // Each file starts its own dind; two at a time fit this 2-core machine.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
          fileParallelism: true,
        },
      },
    ],
  },
});
