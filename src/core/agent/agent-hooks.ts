import { join } from 'node:path';
import { readText, writeFile } from '../../adapters/files.js';
import { UsageError } from '../../errors.js';
import { packageRoot } from '../../package-root.js';
import {
  agentNameFrom,
  CLAUDE_HOOKS,
  type ClaudeSettings,
  lineDiff,
  mergeClaudeHooks,
} from '../../plan/agent-hooks.js';
import { shellQuote } from '../../plan/shell.js';
import { openRepo, type RepoOptions } from '../context.js';
import { completeTask } from '../task/run.js';
import { listAgents } from './list.js';
import { provision } from './provision.js';
import { teardown } from './teardown.js';

export interface InstallResult {
  agent: string;
  settingsFile: string;
  changed: boolean;
  events: string[];
  /** The change as a line diff of the settings file. */
  diff: string;
  dryRun: boolean;
}

/** Writes berth's hooks into the project's `.claude/settings.json`, keeping everything else in it. */
export async function installClaudeHooks(
  options: RepoOptions & { agent: string; dryRun: boolean },
): Promise<InstallResult> {
  if (options.agent !== 'claude')
    throw new UsageError('unknown-agent-cli', `berth has no hooks for "${options.agent}"`, {
      hint: 'berth agent-hooks install claude; for other agents, see the README`s MCP section',
    });
  const context = await openRepo(options, { engine: false });
  const settingsFile = join(context.root, '.claude', 'settings.json');
  const before = readText(settingsFile);
  let settings: ClaudeSettings = {};
  if (before !== undefined) {
    try {
      settings = JSON.parse(before) as ClaudeSettings;
    } catch (error) {
      throw new UsageError(
        'bad-settings',
        `${settingsFile} is not valid JSON (${(error as Error).message})`,
        {
          hint: 'fix it by hand; berth merges into it and will not overwrite what it cannot read',
        },
      );
    }
  }
  const bin = join(packageRoot(), 'dist', 'berth.mjs');
  const command = (event: string) =>
    [process.execPath, bin, 'agent-hooks', 'claude', event].map(shellQuote).join(' ');
  const merged = mergeClaudeHooks(settings, command);
  const after = `${JSON.stringify(merged, null, 2)}\n`;
  const changed = after !== before;
  if (changed && !options.dryRun) writeFile(settingsFile, after, 0o644);
  return {
    agent: 'claude',
    settingsFile,
    changed,
    events: Object.keys(CLAUDE_HOOKS),
    diff: changed ? lineDiff(before ?? '', after) : '',
    dryRun: options.dryRun,
  };
}

interface ClaudeHookInput {
  cwd?: string;
  name?: string;
  worktree_name?: string;
  /** Documented for WorktreeCreate (the ref to start from); the builds seen send only `name`. */
  source_ref?: string;
  worktree_path?: string;
}

/** Runs one Claude Code hook event; returns what the hook prints on stdout (WorktreeCreate: the path). */
export async function runClaudeHook(
  event: string,
  stdin: string,
  progress: (message: string) => void,
): Promise<string | undefined> {
  let input: ClaudeHookInput;
  try {
    input = JSON.parse(stdin || '{}') as ClaudeHookInput;
  } catch {
    throw new UsageError('bad-hook-input', 'the hook input on stdin is not JSON', {
      hint: 'Claude Code runs this command and sends its hook input as JSON on stdin',
    });
  }
  const cwd = input.cwd ?? process.cwd();
  if (event === 'worktree-create') {
    const name = agentNameFrom(input.name ?? input.worktree_name ?? '');
    const from = input.source_ref || undefined;
    const agent = await provision({ repo: cwd, name, progress, ...(from && { from }) });
    return agent.worktree;
  }
  if (event === 'worktree-remove') {
    const path = input.worktree_path;
    if (!path)
      throw new UsageError('bad-hook-input', 'the WorktreeRemove input has no worktree_path', {
        hint: 'Claude Code sends it on stdin',
      });
    const name = await agentAt(path);
    // Claude Code asked to remove it: uncommitted work is saved as a patch first, a branch with work kept.
    if (name) await teardown({ repo: path, name, force: true, progress });
    return undefined;
  }
  if (event === 'session-end') {
    const name = await agentAt(cwd);
    if (name) await completeTask({ repo: cwd, name, progress });
    return undefined;
  }
  throw new UsageError('unknown-hook-event', `no berth hook for "${event}"`, {
    hint: `one of: ${Object.values(CLAUDE_HOOKS).join(', ')}`,
  });
}

/** The agent whose worktree holds `path`, if any. */
async function agentAt(path: string): Promise<string | undefined> {
  const entries = await listAgents({ repo: path }).catch(() => []);
  return entries.find(
    (e) => e.agent && (path === e.agent.worktree || path.startsWith(`${e.agent.worktree}/`)),
  )?.agent?.name;
}
