import type { Command } from 'commander';
import { printJson } from '../output.js';
import { describeOutcome } from './_outcome.js';
import { type CliContext, withJson, withRepo } from './_shared.js';

export function registerShow(program: Command, { io }: CliContext): void {
  withJson(
    withRepo(
      program
        .command('show')
        .description("an agent and its last task's outcome")
        .argument('<name>', 'the agent'),
    ),
  ).action(async (name: string, options: { repo?: string; json?: boolean }) => {
    const { show } = await import('../../core/agent/show.js');
    const result = await show({ name, repo: options.repo });
    if (options.json) return printJson(io, result);
    if (result.agent) {
      const a = result.agent;
      io.stdout(`${a.name}: ${a.state}, ${a.health}; branch ${a.branch}; worktree ${a.worktree}\n`);
    } else {
      io.stdout(`${name}: no environment (torn down)\n`);
    }
    io.stdout(result.outcome ? describeOutcome(result.outcome) : 'no task has run on it yet\n');
  });
}
