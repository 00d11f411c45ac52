import { chmodSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

/**
 * Users the suite creates are named berth-test-<role>: `.ci/run` removes every such user (and their
 * home, with their berth state) before a run, so each run meets them as a fresh host would.
 */
export const TEST_USER_PREFIX = 'berth-test-';

/**
 * A fresh user (made anew: no berth state of an earlier run), a copy of the built CLI it can read (CI
 * clones into a private folder), and a way to run it as that user from a folder that user cannot enter,
 * as when a CI job runs berth as another user from its private clone. Needs root.
 */
export async function asOtherUser(role: string, groups: string[]) {
  const user = `${TEST_USER_PREFIX}${role}`;
  await execa('userdel', ['-r', '-f', user], { reject: false });
  await execa('useradd', ['-m', ...(groups.length ? ['-G', groups.join(',')] : []), user]);
  const install = mkdtempSync(join(tmpdir(), 'berth-install-'));
  for (const path of ['package.json', 'templates', 'dist/berth.mjs', 'dist/chunks'])
    cpSync(path, join(install, path), { recursive: true });
  await execa('chmod', ['-R', 'a+rX', install]);
  const bin = join(install, 'dist', 'berth.mjs');
  // A folder only root may enter: the user's commands start there.
  const privateCwd = mkdtempSync(join(tmpdir(), 'berth-private-'));
  chmodSync(privateCwd, 0o700);
  const ids = async (flag: string) => (await execa('id', [flag, user])).stdout;
  return {
    name: user,
    uid: await ids('-u'),
    gid: await ids('-g'),
    /** The copy of the CLI the user runs. */
    bin,
    run: (args: string[]) =>
      execa('runuser', ['-u', user, '--', 'node', bin, ...args], {
        reject: false,
        cwd: privateCwd,
        env: { ...process.env, HOME: `/home/${user}` },
      }),
    cleanup: async () => {
      rmSync(install, { recursive: true, force: true });
      rmSync(privateCwd, { recursive: true, force: true });
      await execa('userdel', ['-r', '-f', user], { reject: false });
    },
  };
}
