import type { Command } from 'commander';
import { relative, span } from '../../plan/duration.js';
import { printResult } from '../output.js';
import { type CliContext, table, withJson, withRepo } from './_shared.js';

export function registerLs(program: Command, { io }: CliContext): void {
  const command = program
    .command('ls')
    .description("list the repository's agents as Docker and git see them");
  withJson(withRepo(command))
    .option('--show-secrets', 'print passwords in URLs')
    .option('--pool', 'also list the warm pool`s members')
    .action(async (options: { repo?: string; json?: boolean; showSecrets?: boolean; pool?: boolean }) => {
      const { listAgents } = await import('../../core/agent/list.js');
      const agents = await listAgents({ repo: options.repo, showSecrets: options.showSecrets });
      const pool = options.pool ? await listPool(options.repo) : undefined;
      if (options.json) return printResult(io, 'ls', { agents, ...(pool && { pool }) });
      if (pool) {
        const rows = pool.map((m) => [
          m.id,
          m.status,
          Object.entries(m.ports)
            .map(([service, port]) => `${service}:${port}`)
            .join(' '),
          span(Math.max(0, Date.now() - Date.parse(m.createdAt))),
        ]);
        io.stdout(`${table([['POOL', 'STATUS', 'PORTS', 'AGE'], ...rows])}\n`);
        if (pool.length === 0) io.stdout('the pool is empty\n');
      }
      if (agents.length === 0) return io.stdout('no agents\n');
      const rows = agents.flatMap(({ agent: a, task }) =>
        a
          ? [
              [
                a.name,
                a.branch,
                a.state,
                a.health,
                Object.entries(a.ports)
                  .map(([service, port]) => `${service}:${port}`)
                  .join(' '),
                span(Math.max(0, Date.now() - Date.parse(a.createdAt))),
                leaseText(a.lease.expiresAt),
                task ? `${task.state}${task.exitCode === null ? '' : ` ${task.exitCode}`}` : '-',
                a.worktree,
              ],
            ]
          : [],
      );
      const header = ['NAME', 'BRANCH', 'STATE', 'HEALTH', 'PORTS', 'AGE', 'LEASE', 'TASK', 'WORKTREE'];
      io.stdout(`${table([header, ...rows])}\n`);
    });
}

async function listPool(repo: string | undefined) {
  const { poolMembers } = await import('../../core/agent/pool.js');
  return (await poolMembers({ repo })).map((m) => ({
    id: m.id,
    status: m.status,
    key: m.key,
    ports: m.ports,
    createdAt: m.createdAt,
  }));
}

function leaseText(expiresAt: string): string {
  const when = relative(expiresAt);
  return when.startsWith('in ') ? `expires ${when}` : `expired ${when}`;
}
