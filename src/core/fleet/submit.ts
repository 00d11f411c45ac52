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
import { dropCancel, forgetAttempts } from './attempts.js';

export interface SubmittedTask {
  name: string;
  /**
   * queued now; replaced (a finished task of that id removed, with its outcome, and queued anew); or
   * already in the queue in that state (a second submit of an id is a no-op).
   */
  outcome:
    | 'queued'
    | 'replaced'
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

/**
 * Adds tasks to the queue; a task whose id the queue has already is left as it is, and said so, unless
 * `replace` and it has finished (completed or failed): then it is removed, with its outcome and attempts,
 * and queued anew. A waiting or running task is never replaced (cancel it first).
 */
export async function fleetSubmit(options: {
  queue: string;
  tasks: FleetTask[];
  replace?: boolean;
}): Promise<FleetSubmitResult> {
  await checkQueue(options.queue);
  const queue = openQueue(QUEUE_NAME, options.queue);
  try {
    const tasks: SubmittedTask[] = [];
    for (const task of options.tasks) {
      const before = await queue.find(task.name);
      const finished = before?.state === 'completed' || before?.state === 'failed';
      if (before && !(options.replace && finished)) {
        tasks.push({ name: task.name, outcome: `already-${before.state}` });
        continue;
      }
      if (before) {
        // Finished: no host holds it, so it goes at once (a task taken meanwhile is not finished).
        if ((await queue.remove(task.name)) === 'active') {
          tasks.push({ name: task.name, outcome: 'already-active' });
          continue;
        }
      }
      // What berth kept of an earlier submission of this id goes with it.
      await forgetAttempts(queue.store, task.name);
      await dropCancel(queue.store, task.name);
      await queue.add(task.name, task, jobOptions(task));
      tasks.push({ name: task.name, outcome: before ? 'replaced' : 'queued' });
    }
    const queued = tasks.filter((task) => task.outcome === 'queued' || task.outcome === 'replaced').length;
    return { tasks, queued, skipped: tasks.length - queued };
  } finally {
    await queue.close();
  }
}
