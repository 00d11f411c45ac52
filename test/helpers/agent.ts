import { readFileSync } from 'node:fs';
import { berth } from './cli.js';

/** KEY=value lines of an env file written by berth. */
export function readEnvFile(path: string): Record<string, string> {
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.includes('=') && !line.startsWith('#'));
  return Object.fromEntries(
    lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/** Runs a Node ES module script in the agent's container through `berth exec`. */
export function nodeInAgent(repoRoot: string, name: string, script: string) {
  return berth(['exec', name, '--repo', repoRoot, '--', 'node', '--input-type=module', '-e', script]);
}

/** Runs a shell line in the agent's container through `berth exec`. */
export function shInAgent(repoRoot: string, name: string, script: string) {
  return berth(['exec', name, '--repo', repoRoot, '--', 'sh', '-c', script]);
}
