import { execa } from 'execa';
import { resolveImage } from '../../src/core/host/images.js';
import { DEFAULT_IMAGES, type ImageRole } from '../../src/plan/images.js';
import { docker, TEST_LABEL_PAIR } from './docker.js';

/** The image berth runs for a role here: the official one, or the offline stand-in host init built. */
export async function imageFor(role: ImageRole): Promise<string> {
  const image = await resolveImage(docker(), role, DEFAULT_IMAGES[role]);
  if (!image) throw new Error(`no ${role} image: run berth host init`);
  return image;
}

/**
 * A service that starts and runs but never answers: it sleeps, whatever arguments it is given. Built
 * once from the agent image (no download), labelled as a test's.
 */
export async function silentImage(): Promise<string> {
  const tag = 'berth-test/silent:1';
  const base = await imageFor('agent');
  const dockerfile = `FROM ${base}\nENTRYPOINT ["sh", "-c", "exec sleep infinity", "silent"]\n`;
  await execa('docker', ['build', '-q', '--label', TEST_LABEL_PAIR, '-t', tag, '-'], {
    input: dockerfile,
  });
  return tag;
}
