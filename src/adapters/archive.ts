import { chmodSync } from 'node:fs';
import { BerthError } from '../errors.js';
import { run } from './programs.js';

/**
 * Archives folders of `root` (relative paths, kept as they are: links stay links) into one tar file,
 * with tar from the host's base system; throws with tar's own words.
 */
export async function tarFolders(root: string, folders: readonly string[], file: string): Promise<void> {
  const tar = await run('tar', ['-cf', file, '-C', root, '--', ...folders]);
  if (tar.notStarted || tar.exitCode !== 0)
    throw new BerthError('archive-failed', `tar could not archive ${folders.join(', ')} of ${root}`, {
      hint: tar.stderr.trim().split('\n').pop() ?? 'is tar installed?',
    });
  chmodSync(file, 0o600);
}
