import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { teardown } from '../../src/core/agent/teardown.js';
import { readState } from '../../src/state/store.js';

export interface TestRepo {
  root: string;
  git: (...args: string[]) => Promise<string>;
  /** Writes a file in the main working tree and commits it on the current branch. */
  commitFile: (file: string, text: string, message: string) => Promise<void>;
  /** Tears down every agent (forced) and removes the repository and its worktrees. */
  cleanup: () => Promise<void>;
}

/** A real git repository in a temporary folder: the example app, or a few files. */
export async function makeRepo(
  options: { example?: boolean; files?: Record<string, string>; parentName?: string } = {},
): Promise<TestRepo> {
  const parent = mkdtempSync(join(tmpdir(), 'berth-repo-'));
  const root = join(parent, options.parentName ?? '', 'project');
  mkdirSync(root, { recursive: true });
  if (options.example) {
    cpSync('examples/notes-app', root, { recursive: true, filter: (path) => !path.includes('node_modules') });
  } else {
    cpSync('examples/notes-app/package.json', join(root, 'package.json'));
  }
  for (const [name, text] of Object.entries(options.files ?? {})) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), text);
  }
  const git = async (...args: string[]) => (await execa('git', args, { cwd: root })).stdout;
  await git('init', '-q', '-b', 'main');
  await git('add', '-A');
  await git('commit', '-qm', 'initial');
  return {
    root,
    git,
    commitFile: async (file, text, message) => {
      writeFileSync(join(root, file), text);
      await git('add', file);
      await git('commit', '-qm', message);
    },
    cleanup: async () => {
      const state = readState(join(root, '.git', 'berth'));
      for (const name of Object.keys(state.agents)) {
        await teardown({ name, repo: root, force: true }).catch(() => {});
      }
      rmSync(parent, { recursive: true, force: true });
    },
  };
}
