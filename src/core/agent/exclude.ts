import { join } from 'node:path';
import { readText, writeFile } from '../../adapters/files.js';

/** Adds a pattern to the repository's info/exclude (shared by all worktrees) so no agent commits it. */
export function excludeFromGit(commonGitDir: string, fileName: string, what = "agents' env files"): void {
  const file = join(commonGitDir, 'info', 'exclude');
  const pattern = `/${fileName}`;
  const text = readText(file) ?? '';
  if (text.split('\n').includes(pattern)) return;
  const separator = text === '' || text.endsWith('\n') ? '' : '\n';
  writeFile(file, `${text}${separator}# berth: ${what}\n${pattern}\n`);
}
