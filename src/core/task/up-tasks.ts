import { loadTasks } from '../../config/tasks.js';
import type { ResultOf } from '../../contract.js';
import { errorEntry } from '../agent/views.js';
import type { RepoOptions } from '../context.js';
import { runTask } from './task.js';
import { inPool } from './up.js';

export interface TasksOptions extends RepoOptions {
  tasksFile: string;
  parallel?: number;
  configPath?: string;
  progress?: (message: string) => void;
  signal?: AbortSignal;
}

/**
 * Runs every task of the file as `berth run` would, in parallel; each run's output goes to its own log
 * (`berth logs <name> --task`). A task succeeded when its command exited 0.
 */
export async function upTasks(options: TasksOptions): Promise<ResultOf<'up --tasks'>> {
  const tasks = loadTasks(options.tasksFile);
  const entries = await inPool(tasks, options.parallel, async (task) => {
    try {
      const entry = await runTask({ ...options, ...task, quiet: true });
      options.progress?.(`${task.name}: exited with ${entry.task?.exitCode}; ${entry.task?.result}`);
      return entry.task?.exitCode === 0 ? entry : { ...entry, outcome: 'error' as const };
    } catch (error) {
      const entry = errorEntry(task.name, error);
      options.progress?.(`${task.name}: failed: ${entry.error?.message}`);
      return entry;
    }
  });
  const failed = entries.filter((entry) => entry.outcome === 'error').length;
  return { tasks: entries, succeeded: entries.length - failed, failed };
}
