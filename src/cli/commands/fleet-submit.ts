import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { printResult } from '../output.js';
import { exitPolicy } from './_outcome.js';
import { type CliContext, queueOf, table, wholeNumber, withJson, withQueue } from './_shared.js';

interface Options {
  queue?: string;
  tasks?: string;
  repo?: string;
  from?: string;
  name?: string;
  onExit?: string;
  attempts?: string;
  timeout?: string;
  replace?: boolean;
  json?: boolean;
}

export function registerFleetSubmit(fleet: Command, { io }: CliContext): void {
  withJson(
    withQueue(
      fleet
        .command('submit')
        .description('add tasks to the queue (a task id already there is left as it is, unless --replace)')
        .argument('[command...]', 'the agent command, after -- (with --repo and --name)')
        .option(
          '--tasks <file>',
          'a YAML file of tasks: name, repo, from, command, onExit, attempts, timeout',
        )
        .option('--repo <url>', "the task's repository: a git URL or a path every host reaches")
        .option('--from <ref>', 'the branch, tag or commit it starts from (default: the remote HEAD)')
        .option('--name <id>', "the task's id (its result branch is berth/<id>)")
        .option('--on-exit <policy>', 'keep | teardown | teardown-if-merged (default: teardown)')
        .option('--attempts <n>', 'runs of a task whose command fails (default: 1)')
        .option('--timeout <duration>', 'how long the command may run, e.g. 30m or 2h (default: no limit)')
        .option('--replace', 'a task of that id that completed or failed is removed and queued anew'),
    ),
  ).action(async (command: string[], options: Options) => {
    const queue = queueOf(options, process.env);
    const { fleetSubmit, fleetTaskOf, loadFleetTasks } = await import('../../core/fleet/submit.js');
    const tasks = options.tasks ? loadFleetTasks(options.tasks) : [oneTask(command, options, fleetTaskOf)];
    const result = await fleetSubmit({ queue, tasks, replace: options.replace });
    if (options.json) return printResult(io, 'fleet submit', result);
    io.stdout(`${table([['TASK', 'OUTCOME'], ...result.tasks.map((t) => [t.name, t.outcome])])}\n`);
    io.stdout(`${result.queued} queued, ${result.skipped} already in the queue\n`);
  });
}

function oneTask(
  command: string[],
  options: Options,
  fleetTaskOf: typeof import('../../core/fleet/submit.js').fleetTaskOf,
) {
  if (!options.repo || !options.name || command.length === 0) {
    throw new UsageError('bad-task', 'a task needs --repo, --name and a command after --, or --tasks FILE', {
      hint: 'berth fleet submit --queue URL --repo URL --from REF --name ID -- <command…>',
    });
  }
  return fleetTaskOf({
    name: options.name,
    repo: options.repo,
    ...(options.from && { from: options.from }),
    command,
    ...(options.onExit && { onExit: exitPolicy(options.onExit) }),
    ...(options.attempts && { attempts: wholeNumber(options.attempts, '--attempts') }),
    ...(options.timeout && {
      timeout: /^\d+$/.test(options.timeout) ? Number(options.timeout) : options.timeout,
    }),
  });
}
