import { defineConfig } from 'vitest/config';

/**
 * Docker files that must have the engine to themselves: they stop or restart dockerd, uninstall berth,
 * remove images, or start tens of stacks at once (on two cores, beside other files, their readiness
 * limits would measure the machine). They run one at a time, after every other file.
 */
const alone = [
  'engine-restart',
  'engine-death',
  'fresh-host',
  'host-init',
  'images',
  'soak',
  'concurrency',
  'host-leases',
  'pool-races',
  'gc-races',
].map((name) => `test/docker/${name}.test.ts`);

const docker = {
  globalSetup: ['test/helpers/docker-global-setup.ts'],
  setupFiles: ['test/helpers/setup-labels.ts'],
  testTimeout: 180_000,
  hookTimeout: 180_000,
};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...docker,
          name: 'docker',
          include: ['test/docker/**/*.test.ts'],
          exclude: alone,
          // Two files at a time: each makes its own repositories, agents and labels, and berth's leases
          // keep their ports and subnets apart.
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'docker-alone',
          include: alone,
          // The docker project's setup built dist/ and cleans up at the end; this one only cleans up.
          globalSetup: ['test/helpers/docker-cleanup-setup.ts'],
          setupFiles: docker.setupFiles,
          testTimeout: docker.testTimeout,
          hookTimeout: docker.hookTimeout,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
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
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
