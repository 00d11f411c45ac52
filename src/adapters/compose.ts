import { findExecutable, run } from './process.js';

export type ComposeVariant = 'v2' | 'v1';

/** How to call Compose on this host: `docker compose` (v2) or `docker-compose` (v1). */
export interface ComposeCli {
  variant: ComposeVariant;
  version: string;
  /** The program and the leading arguments; append compose arguments to these. */
  command: [string, ...string[]];
}

async function probe(
  command: [string, ...string[]],
  variant: ComposeVariant,
): Promise<ComposeCli | undefined> {
  const [program, ...prefix] = command;
  if (!findExecutable(program)) return undefined;
  const result = await run(program, [...prefix, 'version', '--short'], { timeoutMs: 15_000 });
  if (result.exitCode !== 0) return undefined;
  return { variant, version: result.stdout.trim().replace(/^v/, ''), command };
}

/** Prefers Compose v2, falls back to v1; undefined when neither is installed. */
export async function detectCompose(): Promise<ComposeCli | undefined> {
  const [v2, v1] = await Promise.all([probe(['docker', 'compose'], 'v2'), probe(['docker-compose'], 'v1')]);
  return v2 ?? v1;
}

/** Runs a compose subcommand on one agent's project and file, logging its output. */
export async function compose(
  cli: ComposeCli,
  project: string,
  file: string,
  args: string[],
  options: { logFile: string; signal?: AbortSignal },
) {
  const [program, ...prefix] = cli.command;
  return run(program, [...prefix, '-p', project, '-f', file, ...args], options);
}
