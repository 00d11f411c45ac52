import type { Command } from 'commander';
import type { ExitPolicy, TaskOutcome } from '../../core/history.js';
import { UsageError } from '../../errors.js';
import { printJson, progressTo } from '../output.js';
import { type CliContext, interruptible, withJson, withRepo } from './_shared.js';

const POLICIES = ['keep', 'teardown', 'teardown-if-merged'];

function exitPolicy(value: string | undefined): ExitPolicy | undefined {
  if (value === undefined) return undefined;
  if (!POLICIES.includes(value)) {
    throw new UsageError('bad-policy', `--on-exit takes ${POLICIES.join(', ')}, not "${value}"`, {
      hint: 'keep leaves the environment; teardown removes it, keeping the branch and any unsaved work as a patch',
    });
  }
  return value as ExitPolicy;
}

export function describeOutcome(outcome: TaskOutcome): string {
  const code =
    outcome.state === 'abandoned'
      ? 'abandoned: its berth process died while the command ran'
      : outcome.state === 'running'
        ? 'still running'
        : outcome.state === 'terminated'
          ? `stopped by a signal (exit ${outcome.exitCode})`
          : outcome.exitCode === null
            ? 'completed'
            : `exited with ${outcome.exitCode}`;
  const lines = [
    `${outcome.name}: ${code} after ${(outcome.durationMs / 1000).toFixed(1)} s; ${outcome.commits} commit(s) on ${outcome.branch}${outcome.diffStat ? ` (${outcome.diffStat})` : ''}`,
    `on exit: ${outcome.onExit} -> ${outcome.result}${outcome.message ? `: ${outcome.message}` : ''}`,
  ];
  if (outcome.savedPatch) lines.push(`uncommitted changes saved to ${outcome.savedPatch}`);
  return `${lines.join('\n')}\n`;
}

export function registerTaskCommands(program: Command, { io, setExitCode }: CliContext): void {
  withRepo(
    program
      .command('run')
      .description(
        'run an agent command in its environment (provisioned if needed), then apply the exit policy',
      )
      .argument('<name>', 'the agent')
      .argument('<command...>', 'the agent command, after --')
      .option('--from <ref>', 'the commit a new branch starts from (default: HEAD)')
      .option('--config <file>', 'the config file (default: berth.yaml at the repository root)')
      .option('--on-exit <policy>', 'keep | teardown | teardown-if-merged (default: keep)'),
  ).action(
    async (
      name: string,
      command: string[],
      options: { repo?: string; from?: string; config?: string; onExit?: string },
    ) => {
      const { runTask } = await import('../../core/task.js');
      const onExit = exitPolicy(options.onExit);
      const outcome = await interruptible((signal) =>
        runTask({
          name,
          command,
          repo: options.repo,
          from: options.from,
          configPath: options.config,
          onExit,
          progress: progressTo(io),
          signal,
        }),
      );
      io.stderr(
        describeOutcome(outcome)
          .replace(/^/gm, 'berth: ')
          .replace(/berth: $/, ''),
      );
      setExitCode(outcome.exitCode ?? 0);
    },
  );

  withJson(
    withRepo(
      program
        .command('complete')
        .description("mark an agent's task complete from outside, and apply the exit policy")
        .argument('<name>', 'the agent')
        .option('--on-exit <policy>', 'keep | teardown | teardown-if-merged (default: keep)'),
    ),
  ).action(async (name: string, options: { repo?: string; onExit?: string; json?: boolean }) => {
    const { completeTask } = await import('../../core/task.js');
    const outcome = await completeTask({
      name,
      repo: options.repo,
      onExit: exitPolicy(options.onExit),
      progress: progressTo(io),
    });
    if (options.json) return printJson(io, outcome);
    io.stdout(describeOutcome(outcome));
    if (outcome.result === 'teardown-failed') setExitCode(1);
  });

  withJson(
    withRepo(
      program
        .command('sync')
        .description("fetch, rebase the agent's branch on its base, and run the setup hooks again")
        .argument('<name>', 'the agent'),
    ),
  ).action(async (name: string, options: { repo?: string; json?: boolean }) => {
    const { sync } = await import('../../core/sync.js');
    const result = await sync({ name, repo: options.repo });
    if (options.json) return printJson(io, result);
    io.stdout(
      `${name}: ${result.branch} rebased on ${result.onto}${result.fetched ? ' (fetched first)' : ''}; setup ran again\n`,
    );
  });

  withJson(
    withRepo(
      program
        .command('show')
        .description("an agent and its last task's outcome")
        .argument('<name>', 'the agent'),
    ),
  ).action(async (name: string, options: { repo?: string; json?: boolean }) => {
    const { show } = await import('../../core/show.js');
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

  withRepo(
    program
      .command('logs')
      .description("the agent's hook logs")
      .argument('<name>', 'the agent')
      .option('--hook <name>', 'one hook: setup, migrate, seed, teardown, post-teardown'),
  ).action(async (name: string, options: { repo?: string; hook?: string }) => {
    const { hookLogs } = await import('../../core/show.js');
    for await (const chunk of hookLogs({ name, repo: options.repo, hook: options.hook }))
      await io.write(chunk);
  });
}
