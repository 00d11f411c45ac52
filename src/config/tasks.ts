import { existsSync, readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { EXIT_POLICIES, type ExitPolicy } from '../plan/exit.js';
import { AGENT_NAME_PATTERN } from '../plan/names.js';

const task = z.strictObject({
  name: z
    .string()
    .regex(AGENT_NAME_PATTERN, 'lowercase letters, digits and hyphens, starting with a letter, at most 32'),
  from: z.string().min(1).optional(),
  /** A shell line (run with sh -c) or an argument list. */
  command: z.union([z.string().min(1), z.array(z.string()).min(1)]),
  onExit: z.enum(EXIT_POLICIES).default('keep'),
});

const tasksFile = z.union([z.array(task).min(1), z.strictObject({ tasks: z.array(task).min(1) })]);

export interface Task {
  name: string;
  from?: string;
  command: string[];
  onExit: ExitPolicy;
}

/** A YAML list of tasks (or `tasks:` holding one): name, from, command, onExit. */
export function loadTasks(path: string): Task[] {
  if (!existsSync(path)) {
    throw new UsageError('tasks-missing', `tasks file ${path} does not exist`, {
      hint: 'pass the path of a YAML file of tasks',
    });
  }
  const document = parseDocument(readFileSync(path, 'utf8'));
  if (document.errors.length > 0) {
    throw new UsageError(
      'tasks-yaml',
      `${path} is not valid YAML: ${document.errors[0]?.message.split('\n')[0]}`,
      {
        hint: 'fix the YAML syntax',
      },
    );
  }
  const parsed = tasksFile.safeParse(document.toJS());
  if (!parsed.success) {
    throw new UsageError('tasks-invalid', `${path} is not a list of tasks`, {
      hint: 'each task needs name and command; from and onExit are optional',
      details: parsed.error.issues.map(
        (issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`,
      ),
    });
  }
  const list = Array.isArray(parsed.data) ? parsed.data : parsed.data.tasks;
  return list.map((t) => ({
    ...t,
    command: typeof t.command === 'string' ? ['sh', '-c', t.command] : t.command,
  }));
}
