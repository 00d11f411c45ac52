import type { Command } from 'commander';
import { printResult } from '../output.js';
import { type CliContext, withJson, withRepo } from './_shared.js';

export function registerEgress(program: Command, { io }: CliContext): void {
  const egress = program.command('egress').description("an agent's egress proxy: its allowlist");
  withJson(
    withRepo(
      egress
        .command('reload')
        .description("apply network.egress.allow of berth.yaml to the running agent's proxy")
        .argument('<name>', 'the agent')
        .option('--config <file>', 'the berth.yaml to read (default: the one the agent was made with)'),
    ),
  ).action(async (name: string, options: { repo?: string; config?: string; json?: boolean }) => {
    const { reloadEgress } = await import('../../core/agent/egress.js');
    const result = await reloadEgress({ name, repo: options.repo, configPath: options.config });
    if (options.json) return printResult(io, 'egress reload', result);
    const allowed = result.allow.length > 0 ? result.allow.join(', ') : 'nothing';
    const tcp = result.tcp.length > 0 ? `; plain TCP to ${result.tcp.join(', ')}` : '';
    io.stdout(`${name}: its proxy now allows ${allowed}${tcp}\n`);
  });
}
