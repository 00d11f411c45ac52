import { execa } from 'execa';
import { removeTestResources } from './docker.js';

// Tests run the built binary: build it first. Then remove what an earlier, killed run left behind;
// at the end, what this run made, even when tests failed.
export async function setup(): Promise<void> {
  await execa('npm', ['run', '-s', 'build'], { stdio: 'inherit' });
  await removeTestResources();
}

export async function teardown(): Promise<void> {
  await removeTestResources();
}
