import { removeTestResources } from './docker.js';

// The files that run alone come after the others (vitest.config.ts): the docker project's setup built
// dist/. This one removes what an earlier, killed run left, and at the end what this run made.
export async function setup(): Promise<void> {
  await removeTestResources();
}

export async function teardown(): Promise<void> {
  await removeTestResources();
}
