import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { EXIT_POLICIES, type ExitPolicy } from '../plan/exit.js';
import { AGENT_NAME_PATTERN, MOST_AGENTS_AT_ONCE } from '../plan/names.js';
import { readYaml } from './yaml.js';

const task = z.strictObject({
  name: z
    .string()
    .regex(AGENT_NAME_PATTERN, 'lowercase letters, digits and hyphens, starting with a letter, at most 32'),
  from: z.string().min(1).optional(),
  /** A shell line (run with sh -c) or an argument list. */
  command: z.union([z.string().min(1), z.array(z.string()).min(1)]),
  onExit: z.enum(EXIT_POLICIES).default('keep'),
});

export interface Task {
  name: string;
  from?: string;
  command: string[];
  onExit: ExitPolicy;
}

/**
 * A YAML list of tasks (or `tasks:` holding one): name, from, command, onExit. Checked whole before
 * anything starts: each bad field is named with its task, and two tasks of one name are refused.
 */
export function loadTasks(path: string): Task[] {
  return loadTaskList(path, task, (item) => item);
}

/**
 * Reads and checks a tasks file against `schema` (a task's fields); a command given as a shell line
 * becomes `sh -c` with it.
 */
export function loadTaskList<S extends z.ZodType<{ name: string; command: string | string[] }>, T>(
  path: string,
  schema: S,
  finish: (item: z.output<S> & { command: string[] }) => T,
): T[] {
  if (!existsSync(path)) {
    throw new UsageError('tasks-missing', `tasks file ${path} does not exist`, {
      hint: 'pass the path of a YAML file of tasks',
    });
  }
  const value = readYaml(readFileSync(path, 'utf8'), path, 'tasks-yaml');
  const items = Array.isArray(value) ? value : (value as { tasks?: unknown } | null)?.tasks;
  if (Array.isArray(items) && items.length > MOST_AGENTS_AT_ONCE) {
    throw new UsageError(
      'tasks-too-many',
      `${path} holds ${items.length} tasks; at most ${MOST_AGENTS_AT_ONCE} run at once`,
      {
        hint: 'split it into files of at most that many, or submit them to a fleet (berth fleet submit --tasks)',
      },
    );
  }
  if (!Array.isArray(items) || items.length === 0) {
    throw new UsageError('tasks-invalid', `${path} holds no list of tasks`, {
      hint: 'write a list of tasks, or `tasks:` with one; each needs name and command',
    });
  }
  const problems: string[] = [];
  const tasks: T[] = [];
  const names: string[] = [];
  items.forEach((item, index) => {
    const parsed = schema.safeParse(item);
    const label = `tasks[${index}]${typeof (item as { name?: unknown })?.name === 'string' ? ` (${(item as { name: string }).name})` : ''}`;
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`${label}${fieldOf(issue)}: ${issue.message}`);
      return;
    }
    const command = parsed.data.command;
    names.push(parsed.data.name);
    tasks.push(
      finish({ ...parsed.data, command: typeof command === 'string' ? ['sh', '-c', command] : command }),
    );
  });
  for (const name of new Set(names.filter((name, index) => names.indexOf(name) !== index))) {
    problems.push(`${name}: given to more than one task (each task is an agent of its own name)`);
  }
  if (problems.length > 0) {
    throw new UsageError('tasks-invalid', `${path} has ${problems.length} problem(s); no task was started`, {
      hint: 'fix the tasks listed: each needs a unique name and a command; from and onExit are optional',
      details: problems,
    });
  }
  return tasks;
}

function fieldOf(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `.${issue.keys.join(', .')}`;
  return issue.path.length > 0 ? `.${issue.path.join('.')}` : '';
}
