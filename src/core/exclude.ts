import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Adds a pattern to the repository's info/exclude (shared by all worktrees) so no agent commits it. */
export function excludeFromGit(commonGitDir: string, fileName: string): void {
  const file = join(commonGitDir, 'info', 'exclude');
  const pattern = `/${fileName}`;
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  if (text.split('\n').includes(pattern)) return;
  mkdirSync(join(commonGitDir, 'info'), { recursive: true });
  const separator = text === '' || text.endsWith('\n') ? '' : '\n';
  writeFileSync(file, `${text}${separator}# berth: agents' env files\n${pattern}\n`);
}
