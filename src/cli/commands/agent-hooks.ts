import type { Command } from 'commander';
import { printResult, progressTo } from '../output.js';
import { type CliContext, withJson, withRepo } from './_shared.js';

const AGENTS = ['claude'] as const;

export function registerAgentHooks(program: Command, { io }: CliContext): void {
  const hooks = program
    .command('agent-hooks')
    .description('hooks that let agent CLIs (Claude Code) hand worktrees and session ends to berth');

  withJson(
    withRepo(
      hooks
        .command('install')
        .description("write berth's hooks into the project's .claude/settings.json, merging")
        .argument('<agent>', `the agent CLI: ${AGENTS.join(', ')}`)
        .option('--dry-run', 'print the change, write nothing'),
    ),
  ).action(async (agent: string, options: { repo?: string; json?: boolean; dryRun?: boolean }) => {
    const { installClaudeHooks } = await import('../../core/agent/agent-hooks.js');
    const result = await installClaudeHooks({ agent, repo: options.repo, dryRun: options.dryRun ?? false });
    if (options.json) return printResult(io, 'agent-hooks install', result);
    if (!result.changed) return io.stdout(`${result.settingsFile}: berth's hooks are in already\n`);
    if (options.dryRun) return io.stdout(`${result.settingsFile} would change:\n${result.diff}\n`);
    io.stdout(`${result.settingsFile}: berth's hooks written (${result.events.join(', ')})\n`);
  });

  hooks
    .command('claude')
    .description('what Claude Code runs: reads its hook input on stdin')
    .argument('<event>', 'worktree-create, worktree-remove or session-end')
    .action(async (event: string) => {
      const { runClaudeHook } = await import('../../core/agent/agent-hooks.js');
      const input = await readStdin();
      const answer = await runClaudeHook(event, input, { progress: progressTo(io) });
      if (answer) io.stdout(`${answer}\n`);
    });

  // Started by the WorktreeCreate hook, detached: not a command for people.
  hooks
    .command('watch-claude', { hidden: true })
    .description("renew the leases of a Claude Code process's agents while it runs; reap them once it ended")
    .argument('<pid>', "Claude Code's process")
    .option('--repo <dir>', 'the repository')
    .action(async (pid: string, options: { repo?: string }) => {
      const { watchClaude } = await import('../../core/agent/claude-watch.js');
      await watchClaude({ pid: Number(pid), repo: options.repo });
    });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
