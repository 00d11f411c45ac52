import type { Command } from 'commander';
import { printResult } from '../output.js';
import { type CliContext, withJson, withRepo } from './_shared.js';

export function registerHeartbeat(program: Command, { io }: CliContext): void {
  withJson(
    withRepo(
      program
        .command('heartbeat')
        .description("renew an agent's time to live")
        .argument('<name>', 'the agent'),
    ),
  ).action(async (name: string, options: { repo?: string; json?: boolean }) => {
    const { heartbeat } = await import('../../core/agent/heartbeat.js');
    const result = await heartbeat({ name, repo: options.repo });
    if (options.json) return printResult(io, 'heartbeat', result);
    io.stdout(`${name}: expires ${result.expiresAt} (renewed)\n`);
  });
}
