import { GenericContainer, type StartedTestContainer, Wait } from 'testcontainers';
import { TEST_LABEL, TEST_SCOPE } from './docker.js';

// No registry is reachable here, so no reaper image: the suite's own label sweep removes what tests
// start (test/helpers/docker-global-setup.ts), even after a crash.
process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';

export interface StartOptions {
  image: string;
  env?: Record<string, string>;
  cmd?: string[];
  /** A log line that says the container is ready. */
  readyWhen?: RegExp;
}

/**
 * Starts a labelled test container from a local image. Nothing is published: the host reaches it at
 * its address on the default bridge.
 */
export async function startContainer(options: StartOptions) {
  let container = new GenericContainer(options.image).withLabels({ [TEST_LABEL]: TEST_SCOPE });
  if (options.env) container = container.withEnvironment(options.env);
  if (options.cmd) container = container.withCommand(options.cmd);
  if (options.readyWhen) container = container.withWaitStrategy(Wait.forLogMessage(options.readyWhen));
  const started: StartedTestContainer = await container.start();
  return { container: started, address: started.getIpAddress('bridge') };
}
