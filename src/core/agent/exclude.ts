import { join } from 'node:path';
import { writeConfined } from '../../adapters/confined-files.js';
import { readText } from '../../adapters/files.js';

/**
 * Adds a pattern to the repository's info/exclude (shared by all worktrees) so no agent commits it.
 * Written without following a link: the git folder is shared with agents' containers.
 */
export function excludeFromGit(commonGitDir: string, fileName: string, what = "agents' env files"): void {
  const file = join(commonGitDir, 'info', 'exclude');
  const pattern = `/${fileName}`;
  const text = readText(file) ?? '';
  if (text.split('\n').includes(pattern)) return;
  const separator = text === '' || text.endsWith('\n') ? '' : '\n';
  const next = `${text}${separator}# berth: ${what}\n${pattern}\n`;
  writeConfined(commonGitDir, ['info', 'exclude'], Buffer.from(next));
}
