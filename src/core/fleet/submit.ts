import { resolve } from 'node:path';
import { exists } from '../../adapters/files.js';
import { openQueue } from '../../adapters/queue.js';
import { checkQueue } from '../../adapters/queue-redis.js';
import { loadTaskList } from '../../config/tasks.js';
import { UsageError } from '../../errors.js';
import {
  type FleetTask,
  fleetTaskFileSchema,
  fleetTaskSchema,
  isRepoUrl,
  jobOptions,
  QUEUE_NAME,
} from '../../plan/fleet.js';

export interface SubmittedTask {
  name: string;
  /** queued now, or already in the queue in that state (a second submit of an id is a no-op). */
  outcome:
    | 'queued'
    | 'already-waiting'
    | 'already-active'
    | 'already-delayed'
    | 'already-completed'
    | 'already-failed';
}

export interface FleetSubmitResult {
  tasks: SubmittedTask[];
  queued: number;
  skipped: number;
}

/** The tasks of a tasks file: `berth up --tasks`'s format plus `repo` (and `attempts`). */
export function loadFleetTasks(path: string, cwd = process.cwd()): FleetTask[] {
  return loadTaskList(path, fleetTaskFileSchema, (task) => withRepo(fleetTaskSchema.parse(task), cwd));
}

/** One task given on the command line. */
export function fleetTaskOf(input: Record<string, unknown>, cwd = process.cwd()): FleetTask {
  const parsed = fleetTaskSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') || 'task';
    throw new UsageError(
      'bad-task',
      `--${field === 'onExit' ? 'on-exit' : field}: ${issue?.message ?? 'invalid'}`,
      {
        hint: 'berth fleet submit --queue URL --repo URL --from REF --name ID -- <command…>',
      },
    );
  }
  return withRepo(parsed.data, cwd);
}

/**
 * A repository on disk is given to hosts by its absolute path (every host must see it there); it must
 * exist here. URLs go as they are.
 */
function withRepo(task: FleetTask, cwd: string): FleetTask {
  if (isRepoUrl(task.repo)) return task;
  const path = resolve(cwd, task.repo);
  if (!exists(path)) {
    throw new UsageError(
      'no-such-repo',
      `task ${task.name}: the repository ${task.repo} does not exist here`,
      {
        hint: 'give a git URL, or the path of a repository every worker host sees at that path',
      },
    );
  }
  return { ...task, repo: path };
}

/** Adds tasks to the queue; a task whose id the queue has already is left as it is, and said so. */
export async function fleetSubmit(options: {
  queue: string;
  tasks: FleetTask[];
}): Promise<FleetSubmitResult> {
  await checkQueue(options.queue);
  const queue = openQueue(QUEUE_NAME, options.queue);
  try {
    const tasks: SubmittedTask[] = [];
    for (const task of options.tasks) {
      const before = await queue.stateOf(task.name);
      if (before && before !== 'unknown') {
        tasks.push({ name: task.name, outcome: `already-${before}` });
        continue;
      }
      await queue.add(task.name, task, jobOptions(task));
      tasks.push({ name: task.name, outcome: 'queued' });
    }
    const queued = tasks.filter((task) => task.outcome === 'queued').length;
    return { tasks, queued, skipped: tasks.length - queued };
  } finally {
    await queue.close();
  }
}
