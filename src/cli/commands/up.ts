import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { printResult, progressTo } from '../output.js';
import { type CliContext, interruptibleBatch, table, withJson, withRepo } from './_shared.js';

interface Options {
  repo?: string;
  n?: string;
  prefix?: string;
  parallel?: string;
  from?: string;
  config?: string;
  tasks?: string;
  json?: boolean;
}

function positiveInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new UsageError('bad-number', `${flag} takes a whole number from 1, not "${value}"`, {
      hint: `e.g. ${flag} 4`,
    });
  }
  return Number(value);
}

export function registerUp(program: Command, { io, setExitCode }: CliContext): void {
  const command = program
    .command('up')
    .description('provision many agents at once, with bounded parallelism, and print a summary')
    .argument('[names...]', 'agent names')
    .option('-n <count>', 'provision this many new agents, named <prefix>-1, <prefix>-2, …')
    .option('--prefix <prefix>', 'the name prefix for -n', 'agent')
    .option('--parallel <k>', 'how many provisions run at once (default: twice the cores, at most 8)')
    .option('--from <ref>', 'the commit new branches start from (default: HEAD)')
    .option('--config <file>', 'the config file (default: berth.yaml at the repository root)')
    .option(
      '--tasks <file>',
      'a YAML file of tasks (name, from, command, onExit) to run as `berth run` does',
    );
  withJson(withRepo(command)).action(async (names: string[], options: Options) => {
    if (options.tasks) return runTasks(names, options, { io, setExitCode });
    const { up } = await import('../../core/task/up.js');
    const result = await interruptibleBatch(
      (signal) =>
        up({
          names,
          count: positiveInteger(options.n, '-n'),
          prefix: options.prefix,
          parallel: positiveInteger(options.parallel, '--parallel'),
          repo: options.repo,
          from: options.from,
          configPath: options.config,
          progress: progressTo(io),
          signal,
        }),
      setExitCode,
    );
    if (options.json) return printResult(io, 'up', result);
    const rows = result.agents.map(({ name, agent, error }) =>
      agent
        ? [
            name,
            'ready',
            agent.branch,
            Object.entries(agent.ports)
              .map(([s, p]) => `${s}:${p}`)
              .join(' '),
          ]
        : [name, 'FAILED', '', error?.message ?? ''],
    );
    io.stdout(`${table([['NAME', 'RESULT', 'BRANCH', 'PORTS / ERROR'], ...rows])}\n`);
    io.stdout(
      `${result.ready} of ${result.agents.length} ready${result.failed ? `, ${result.failed} failed` : ''}\n`,
    );
  });
}

async function runTasks(names: string[], options: Options, { io, setExitCode }: CliContext) {
  if (names.length > 0 || options.n !== undefined) {
    throw new UsageError(
      'up-tasks-and-names',
      '--tasks takes its agents from the file: give no names or -n',
      {
        hint: 'berth up --tasks tasks.yaml',
      },
    );
  }
  const { upTasks } = await import('../../core/task/up-tasks.js');
  const result = await interruptibleBatch(
    (signal) =>
      upTasks({
        tasksFile: options.tasks as string,
        parallel: positiveInteger(options.parallel, '--parallel'),
        repo: options.repo,
        configPath: options.config,
        progress: progressTo(io),
        signal,
      }),
    setExitCode,
  );
  if (options.json) return printResult(io, 'up --tasks', result);
  const rows = result.tasks.map(({ name, outcome, task, error }) =>
    task
      ? [
          name,
          outcome === 'success' ? 'ok' : 'FAILED',
          String(task.exitCode),
          task.result,
          String(task.commits),
          task.logFile ?? '',
        ]
      : [name, 'FAILED', '', error?.message ?? '', '', error?.logFile ?? ''],
  );
  io.stdout(`${table([['TASK', 'RESULT', 'EXIT', 'ON EXIT', 'COMMITS', 'LOG'], ...rows])}\n`);
  const failedNames = result.tasks
    .filter((t) => t.outcome === 'error')
    .map((t) => t.name)
    .join(', ');
  io.stdout(
    `${result.succeeded} of ${result.tasks.length} succeeded${result.failed ? `; failed: ${failedNames}` : ''}\n`,
  );
}
