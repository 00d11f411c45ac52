import type { Command } from 'commander';
import { printResult } from '../output.js';
import { describeOutcome } from './_outcome.js';
import { type CliContext, withJson, withRepo } from './_shared.js';

export function registerShow(program: Command, { io }: CliContext): void {
  withJson(
    withRepo(
      program
        .command('show')
        .description("an agent and its last task's outcome")
        .argument('<name>', 'the agent')
        .option('--show-secrets', 'print passwords in URLs'),
    ),
  ).action(async (name: string, options: { repo?: string; json?: boolean; showSecrets?: boolean }) => {
    const { show } = await import('../../core/agent/list.js');
    const entry = await show({ name, repo: options.repo, showSecrets: options.showSecrets });
    if (options.json) return printResult(io, 'show', entry);
    const a = entry.agent;
    io.stdout(
      a
        ? `${a.name}: ${a.state}, ${a.health}; branch ${a.branch}; worktree ${a.worktree}\n`
        : `${name}: no environment (torn down)\n`,
    );
    if (a?.claude)
      io.stdout(
        `Claude Code session ${a.claude.sessionId} (${a.claude.kind} worktree ${a.claude.worktreeName}): ${
          a.claude.endedAt
            ? `ended ${a.claude.endedAt}`
            : a.claude.running
              ? 'running'
              : 'its process is gone'
        }\n`,
      );
    io.stdout(entry.task ? describeOutcome(entry.task) : 'no task has run on it yet\n');
  });
}
