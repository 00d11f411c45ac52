import { join, resolve } from 'node:path';
import { exists, readText, writeFile } from '../../adapters/files.js';
import { isWorktreeFolder, repoInfo, uncommittedChanges } from '../../adapters/git.js';
import { ancestors, processAt, processName } from '../../adapters/processes.js';
import { startDetached } from '../../adapters/programs.js';
import { UsageError } from '../../errors.js';
import { packageRoot } from '../../package-root.js';
import { expiryFrom, type ProcessId } from '../../plan/agent.js';
import {
  agentNameFrom,
  agentsOfClaude,
  CLAUDE_HOOKS,
  type ClaudeHookInput,
  type ClaudeSettings,
  claudeHookInputSchema,
  claudeWorktreeKind,
  hasBerthHooks,
  lineDiff,
  mergeClaudeHooks,
  sessionEndFinishes,
  sessionEndOutcome,
  withoutBerthHooks,
} from '../../plan/agent-hooks.js';
import { parseDuration } from '../../plan/duration.js';
import { claudeRuns } from '../../plan/reap.js';
import { shellQuote } from '../../plan/shell.js';
import type { Runtime } from '../../runtime.js';
import { readState, updateState } from '../../state/store.js';
import { loadRepoConfig, openRepo, type RepoContext, type RepoOptions } from '../context.js';
import { completeTask } from '../task/task.js';
import { branchWork } from './branch-work.js';
import { excludeFromGit } from './exclude.js';
import { provision } from './provision.js';
import { teardown } from './teardown.js';

export interface InstallResult {
  agent: string;
  settingsFile: string;
  changed: boolean;
  events: string[];
  /** The change as a line diff of the settings file (and of the shared one, when berth's hooks left it). */
  diff: string;
  dryRun: boolean;
}

/** Where berth's hooks go: Claude Code reads it from the folder it was started in, in every worktree. */
export const CLAUDE_LOCAL_SETTINGS = join('.claude', 'settings.local.json');
const CLAUDE_SHARED_SETTINGS = join('.claude', 'settings.json');

/**
 * Writes berth's hooks into the project's `.claude/settings.local.json`, keeping everything else in it.
 * Claude Code reads that file from the folder it was started in, also once a session has moved into the
 * worktree a hook made (measured with 2.1.332: it reloads the project's settings from the worktree,
 * where a `.claude/settings.json` that is not committed does not exist). The hook commands name this
 * machine's node and berth, so the file is kept out of git; berth hooks an older berth wrote into
 * `.claude/settings.json` are taken out of it.
 */
export async function installClaudeHooks(
  options: RepoOptions & { agent: string; dryRun: boolean },
): Promise<InstallResult> {
  if (options.agent !== 'claude')
    throw new UsageError('unknown-agent-cli', `berth has no hooks for "${options.agent}"`, {
      hint: 'berth agent-hooks install claude; for other agents, see the README`s MCP section',
    });
  const context = await openRepo(options, { engine: false });
  const settingsFile = join(context.root, CLAUDE_LOCAL_SETTINGS);
  const sharedFile = join(context.root, CLAUDE_SHARED_SETTINGS);
  const before = readText(settingsFile);
  const settings = parseSettings(settingsFile, before);
  const bin = join(packageRoot(), 'dist', 'berth.mjs');
  const command = (event: string) =>
    [process.execPath, bin, 'agent-hooks', 'claude', event].map(shellQuote).join(' ');
  const after = `${JSON.stringify(mergeClaudeHooks(settings, command), null, 2)}\n`;
  const sharedBefore = readText(sharedFile);
  const shared = parseSettings(sharedFile, sharedBefore);
  const sharedAfter = hasBerthHooks(shared)
    ? `${JSON.stringify(withoutBerthHooks(shared), null, 2)}\n`
    : sharedBefore;
  const changed = after !== before || sharedAfter !== sharedBefore;
  if (changed && !options.dryRun) {
    writeFile(settingsFile, after, 0o644);
    if (sharedAfter !== sharedBefore && sharedAfter !== undefined) writeFile(sharedFile, sharedAfter, 0o644);
    excludeFromGit(context.commonGitDir, CLAUDE_LOCAL_SETTINGS, "Claude Code's local settings");
  }
  const diffs = [
    after !== before ? `${settingsFile}\n${lineDiff(before ?? '', after)}` : '',
    sharedAfter !== sharedBefore ? `${sharedFile}\n${lineDiff(sharedBefore ?? '', sharedAfter ?? '')}` : '',
  ].filter(Boolean);
  return {
    agent: 'claude',
    settingsFile,
    changed,
    events: Object.keys(CLAUDE_HOOKS),
    diff: diffs.join('\n'),
    dryRun: options.dryRun,
  };
}

function parseSettings(file: string, text: string | undefined): ClaudeSettings {
  if (text === undefined) return {};
  try {
    return JSON.parse(text) as ClaudeSettings;
  } catch (error) {
    throw new UsageError('bad-settings', `${file} is not valid JSON (${(error as Error).message})`, {
      hint: 'fix it by hand; berth merges into it and will not overwrite what it cannot read',
    });
  }
}

export interface ClaudeHookOptions {
  progress: (message: string) => void;
  /** The environment Claude Code gave the hook (CLAUDE_PID), the clock and the processes. */
  runtime?: Partial<Runtime>;
}

/** Runs one Claude Code hook event; returns what the hook prints on stdout (WorktreeCreate: the path). */
export async function runClaudeHook(
  event: string,
  stdin: string,
  options: ClaudeHookOptions,
): Promise<string | undefined> {
  const input = parseHookInput(stdin);
  if (event === 'worktree-create') return worktreeCreated(input, options);
  if (event === 'worktree-remove') return worktreeRemoved(input, options);
  if (event === 'session-end') return sessionEnded(input, options);
  throw new UsageError('unknown-hook-event', `no berth hook for "${event}"`, {
    hint: `one of: ${Object.values(CLAUDE_HOOKS).join(', ')}`,
  });
}

function parseHookInput(stdin: string): ClaudeHookInput {
  let json: unknown;
  try {
    json = JSON.parse(stdin || '{}');
  } catch {
    throw new UsageError('bad-hook-input', 'the hook input on stdin is not JSON', {
      hint: 'Claude Code runs this command and sends its hook input as JSON on stdin',
    });
  }
  const parsed = claudeHookInputSchema.safeParse(json);
  if (!parsed.success)
    throw new UsageError('bad-hook-input', 'the hook input on stdin is not a Claude Code hook input', {
      hint: `${parsed.error.issues[0]?.path.join('.') ?? 'input'}: ${parsed.error.issues[0]?.message ?? ''}`,
    });
  return parsed.data;
}

/**
 * Claude Code's own process, which runs this hook: CLAUDE_PID, which Claude Code sets in its hooks'
 * environment (2.1.332), when it names one of this process's ancestors; else the nearest ancestor
 * named `claude`. Undefined when neither is found (a hook run by hand).
 */
function claudeProcess(env: NodeJS.ProcessEnv): ProcessId | undefined {
  const chain = ancestors();
  const given = Number(env.CLAUDE_PID);
  const pid = chain.includes(given) ? given : chain.find((ancestor) => processName(ancestor) === 'claude');
  return pid === undefined ? undefined : processAt(pid);
}

/**
 * WorktreeCreate: a berth agent named after the worktree, bound to the Claude Code session (its id, the
 * worktree's name and kind, Claude Code's process), with the short `claude.ttl` that a watcher renews
 * while Claude Code runs. A subagent's or background session's worktree gets a light environment unless
 * `claude.subagents` is full. An agent of that name that Claude Code's hooks made and no running Claude
 * session holds is entered again (`claude -w NAME` after "Keep worktree"), not made anew; one made any
 * other way is refused (the hook fails, and Claude Code shows its line and makes no worktree).
 */
async function worktreeCreated(input: ClaudeHookInput, options: ClaudeHookOptions): Promise<string> {
  const cwd = input.cwd ?? process.cwd();
  const context = await openRepo({ repo: cwd, runtime: options.runtime }, { engine: false });
  const config = loadRepoConfig(context);
  const worktreeName = input.name ?? input.worktree_name ?? '';
  const kind = claudeWorktreeKind(worktreeName);
  const name = agentNameFrom(worktreeName);
  const claude = claudeProcess(context.runtime.env);
  const existing = readState(context.berthDir).agents[name];
  // An agent made otherwise (berth provision, berth up, MCP) is someone else's: a session bound to it
  // would cut its time to live to claude.ttl and its end would complete, remove or reap it.
  if (existing && !existing.claude)
    throw new UsageError(
      'agent-not-claudes',
      `agent ${name} exists and was not made by Claude Code: berth does not hand it to this session`,
      {
        hint: `name the worktree otherwise (claude -w <another name>), or work in ${existing.worktree} without --worktree`,
      },
    );
  const reusable =
    existing?.status === 'ready' && !claudeRuns(existing, { isRunning: context.runtime.isRunning });
  if (reusable) options.progress(`${name}: entering the existing agent for this Claude Code session`);
  const worktree = reusable
    ? existing.worktree
    : (
        await provision({
          repo: cwd,
          name,
          progress: options.progress,
          runtime: options.runtime,
          light: kind !== 'session' && config.claude.subagents === 'light',
          ...(input.source_ref && { from: input.source_ref }),
        })
      ).worktree;
  const ttlSeconds = parseDuration(config.claude.ttl);
  await updateState(context.berthDir, (state) => {
    const record = state.agents[name];
    if (!record) return;
    record.claude = {
      sessionId: input.session_id ?? '',
      worktreeName,
      kind,
      ...(claude && { process: claude }),
    };
    // Without Claude Code's process nothing would renew a short time to live: the agent keeps its ttl.
    if (claude) record.expiry = expiryFrom(ttlSeconds, context.runtime.now());
  });
  if (claude) watchInBackground(context, claude.pid);
  return worktree;
}

/** Starts the watcher of a Claude Code process, detached (one per process: a second one leaves at once). */
function watchInBackground(context: RepoContext, pid: number): void {
  if (context.runtime.env.BERTH_CLAUDE_WATCH === '0') return;
  const bin = join(packageRoot(), 'dist', 'berth.mjs');
  const args = [bin, 'agent-hooks', 'watch-claude', String(pid), '--repo', context.root];
  startDetached(process.execPath, args, context.runtime.env);
}

/** WorktreeRemove: the agent whose worktree Claude Code names goes (uncommitted work saved first). */
async function worktreeRemoved(input: ClaudeHookInput, options: ClaudeHookOptions): Promise<undefined> {
  const path = input.worktree_path;
  if (!path)
    throw new UsageError('bad-hook-input', 'the WorktreeRemove input has no worktree_path', {
      hint: 'Claude Code sends it on stdin',
    });
  const context = await openFirst([path, input.cwd ?? process.cwd()], options.runtime);
  if (!context) return undefined;
  const agent = Object.values(readState(context.berthDir).agents).find(
    (record) => resolve(record.worktree) === resolve(path),
  );
  // Only an agent Claude Code's hooks made is Claude Code's to remove.
  if (!agent?.claude) return undefined;
  // Claude Code asked to remove it: uncommitted work is saved as a patch first, a branch with work kept.
  await teardown({
    repo: context.root,
    name: agent.name,
    force: true,
    progress: options.progress,
    runtime: options.runtime,
  });
  return undefined;
}

/**
 * SessionEnd: the session's own agent (its `claude --worktree` one) has its task completed and is kept
 * with the ordinary `ttl`, as any agent whose task is done, or is left to its short time to live when
 * nothing in it is worth keeping (`sessionEndOutcome`). Claude Code sends the folder it was started in
 * as `cwd` (interactive) or the worktree (print mode): the agent is found by the session id, or by
 * Claude Code's process. Its subagents' and background sessions' agents stay bound to the process, and
 * go once it ends.
 */
async function sessionEnded(input: ClaudeHookInput, options: ClaudeHookOptions): Promise<undefined> {
  if (!sessionEndFinishes(input.reason)) return undefined;
  const context = await openFirst([input.cwd ?? process.cwd()], options.runtime);
  if (!context) return undefined;
  const config = loadRepoConfig(context);
  const claude = claudeProcess(context.runtime.env);
  const agents = agentsOfClaude(Object.values(readState(context.berthDir).agents), {
    ...(input.session_id && { sessionId: input.session_id }),
    ...(claude && { process: claude }),
  }).filter((agent) => agent.claude?.kind === 'session' && agent.status === 'ready');
  for (const agent of agents) {
    const worked =
      (await branchWork(context, agent)).commits > 0 ||
      (isWorktreeFolder(agent.worktree) &&
        (await uncommittedChanges({ worktree: agent.worktree, commonGitDir: context.commonGitDir })).length >
          0);
    if (sessionEndOutcome(input.reason, worked) !== 'keep') {
      options.progress(
        `${agent.name}: the session left no work in it; it goes once Claude Code has exited (claude.ttl ${config.claude.ttl})`,
      );
      continue;
    }
    await completeTask({
      repo: context.root,
      name: agent.name,
      progress: options.progress,
      runtime: options.runtime,
    });
    await updateState(context.berthDir, (state) => {
      const record = state.agents[agent.name];
      if (!record?.claude || record.instance !== agent.instance) return;
      record.claude.endedAt = new Date(context.runtime.now()).toISOString();
      record.expiry = expiryFrom(parseDuration(config.ttl), context.runtime.now());
    });
  }
  return undefined;
}

/** The repository around the first of these folders that exists and is in one. */
async function openFirst(
  paths: string[],
  runtime: Partial<Runtime> | undefined,
): Promise<RepoContext | undefined> {
  for (const path of paths) {
    if (!exists(path)) continue;
    const found = await repoInfo(path).then(
      () => true,
      () => false,
    );
    if (found) return openRepo({ repo: path, runtime }, { engine: false });
  }
  return undefined;
}
