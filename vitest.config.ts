import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'docker',
          include: ['test/docker/**/*.test.ts'],
          // One engine, one address pool, one dockerd that a test may restart: files run one at a time.
          fileParallelism: false,
          globalSetup: ['test/helpers/docker-global-setup.ts'],
          setupFiles: ['test/helpers/setup-labels.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
      {
        // `.ci/run` only (BERTH_TEST_PURGE=1): uninstalls berth from this host, engine and all.
        test: {
          name: 'purge',
          include: ['test/purge/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
