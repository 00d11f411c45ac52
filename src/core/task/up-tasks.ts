import { loadTasks } from '../../config/tasks.js';
import { openRepo, type RepoOptions } from '../context.js';
import type { TaskOutcome } from './history.js';
import { runTask } from './run.js';
import { describe, inPool } from './up.js';

export interface TasksOptions extends RepoOptions {
  tasksFile: string;
  parallel?: number;
  configPath?: string;
  progress?: (message: string) => void;
  signal?: AbortSignal;
}

export type TaskResult = { name: string; ok: boolean; logFile: string } & (
  | { outcome: TaskOutcome }
  | { error: ReturnType<typeof describe> }
);

/** Runs every task of the file as `berth run` would, in parallel; each agent's output goes to its log. */
export async function upTasks(options: TasksOptions): Promise<TaskResult[]> {
  const tasks = loadTasks(options.tasksFile);
  const context = await openRepo(options);
  return inPool(tasks, options.parallel, async (task) => {
    const logFile = context.paths.runLog(task.name);
    try {
      const outcome = await runTask({ ...options, ...task, logFile });
      options.progress?.(`${task.name}: exited with ${outcome.exitCode}; ${outcome.result}`);
      return { name: task.name, ok: outcome.exitCode === 0, logFile, outcome };
    } catch (error) {
      options.progress?.(`${task.name}: failed: ${describe(error).message}`);
      return { name: task.name, ok: false, logFile, error: describe(error) };
    }
  });
}
