import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

/**
 * A copy of the built CLI that another user can read (CI clones into a private folder), and a way to
 * run it as that user. Needs root, to create the user.
 */
export async function asOtherUser(user: string, groups: string[]) {
  await execa('useradd', ['-m', ...(groups.length ? ['-G', groups.join(',')] : []), user], { reject: false });
  const install = mkdtempSync(join(tmpdir(), 'berth-install-'));
  for (const path of ['package.json', 'templates', 'dist/berth.mjs', 'dist/chunks'])
    cpSync(path, join(install, path), { recursive: true });
  await execa('chmod', ['-R', 'a+rX', install]);
  const bin = join(install, 'dist', 'berth.mjs');
  return {
    run: (args: string[]) =>
      execa('runuser', ['-u', user, '--', 'node', bin, ...args], {
        reject: false,
        env: { ...process.env, HOME: `/home/${user}` },
      }),
    cleanup: () => rmSync(install, { recursive: true, force: true }),
  };
}
