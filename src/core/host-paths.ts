import { homedir } from 'node:os';
import { join } from 'node:path';
import { isRoot } from '../adapters/process.js';

/** berth's host-wide folder (logs, image builds): BERTH_HOME, else /var/lib/berth for root, else XDG state. */
export function hostStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BERTH_HOME) return env.BERTH_HOME;
  if (isRoot()) return '/var/lib/berth';
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'berth');
}

export function hostLogDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(hostStateDir(env), 'logs');
}
