import type { Command } from 'commander';
import type { AgentView, EntryView } from '../../contract.js';
import { relative, span } from '../../plan/duration.js';
import { printResult } from '../output.js';
import { type CliContext, interruptible, table, withJson, withRepo } from './_shared.js';

interface Options {
  repo?: string;
  json?: boolean;
  showSecrets?: boolean;
  pool?: boolean;
  watch?: boolean;
}

export function registerLs(program: Command, { io }: CliContext): void {
  const command = program
    .command('ls')
    .description("list the repository's agents as Docker and git see them");
  withJson(withRepo(command))
    .option('--show-secrets', 'print passwords in URLs')
    .option('--pool', 'also list the warm pool`s members')
    .option(
      '--watch',
      'keep the table on screen, redrawn as agents change (Ctrl-C ends it); with --json, one object per line',
    )
    .action(async (options: Options) => {
      if (options.watch) return watch(io, options);
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
      io.stdout(`${agentTable(agents, false)}\n`);
    });
}

function agentTable(agents: EntryView[], withStep: boolean): string {
  if (agents.every((e) => !e.agent)) return 'no agents';
  // The Claude Code session column shows only where Claude Code's hooks made an agent.
  const withClaude = agents.some((e) => e.agent?.claude);
  const rows = agents.flatMap(({ agent: a, task }) =>
    a
      ? [
          [
            a.name,
            a.branch,
            a.state,
            ...(withStep ? [a.step ?? (task?.state === 'running' ? 'task running' : '-')] : []),
            a.health,
            Object.entries(a.ports)
              .map(([service, port]) => `${service}:${port}`)
              .join(' '),
            span(Math.max(0, Date.now() - Date.parse(a.createdAt))),
            expiryText(a.expiry.expiresAt),
            task ? `${task.state}${task.exitCode === null ? '' : ` ${task.exitCode}`}` : '-',
            ...(withClaude ? [claudeText(a.claude)] : []),
            a.worktree,
          ],
        ]
      : [],
  );
  const header = [
    'NAME',
    'BRANCH',
    'STATE',
    ...(withStep ? ['STEP'] : []),
    'HEALTH',
    'PORTS',
    'AGE',
    'EXPIRES',
    'TASK',
    ...(withClaude ? ['CLAUDE SESSION'] : []),
    'WORKTREE',
  ];
  return table([header, ...rows]);
}

/**
 * The table, live. On a terminal each frame is drawn over the last from the top-left corner, line by
 * line with the rest of each line cleared, so nothing blinks; elsewhere a frame is printed only when it
 * differs from the last, under a line with the time.
 */
async function watch(io: CliContext['io'], options: Options) {
  const { watchAgents } = await import('../../core/agent/list.js');
  const tty = Boolean(process.stdout.isTTY) && !options.json;
  let last = '';
  if (tty) io.stdout('\x1b[?25l\x1b[2J');
  try {
    await interruptible((signal) =>
      watchAgents({ repo: options.repo, showSecrets: options.showSecrets, signal }, (agents) => {
        if (options.json) {
          // One object per line, each time the list changes.
          const line = JSON.stringify(agents);
          if (line !== last) printResult(io, 'ls --watch', { agents });
          last = line;
          return;
        }
        const frame = agentTable(agents, true);
        if (tty) {
          const lines = frame.split('\n').map((line) => `${line}\x1b[K`);
          io.stdout(`\x1b[H${lines.join('\n')}\n\x1b[J`);
        } else if (frame !== last) {
          io.stdout(`-- ${new Date().toISOString()}\n${frame}\n`);
        }
        last = frame;
      }),
    ).catch((error: { code?: string }) => {
      if (error.code !== 'interrupted') throw error;
    });
  } finally {
    if (tty) io.stdout('\x1b[?25h');
  }
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

/** The Claude Code session an agent belongs to: its id, the kind of worktree, whether it still runs. */
function claudeText(claude: AgentView['claude']): string {
  if (!claude) return '-';
  const kind = claude.kind === 'session' ? '' : ` ${claude.kind}`;
  const state = claude.endedAt ? 'ended' : claude.running ? 'running' : 'gone';
  return `${claude.sessionId.slice(0, 8)}${kind} (${state})`;
}

function expiryText(expiresAt: string): string {
  const when = relative(expiresAt, Date.now());
  return when.startsWith('in ') ? `expires ${when}` : `expired ${when}`;
}
