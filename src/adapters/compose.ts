import { EnvironmentError, UsageError } from '../errors.js';
import { type ComposeVariant, composePreference } from '../plan/compose-source.js';
import { findExecutable, run } from './run.js';

export type { ComposeVariant };

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

/** Every Compose on this host, v2 first. */
export async function detectAllCompose(): Promise<ComposeCli[]> {
  const found = await Promise.all([probe(['docker', 'compose'], 'v2'), probe(['docker-compose'], 'v1')]);
  return found.filter((cli): cli is ComposeCli => cli !== undefined);
}

/** The variant BERTH_COMPOSE asks for, if any; a clear error for anything but v1 or v2. */
export function preferredVariant(env: NodeJS.ProcessEnv = process.env): ComposeVariant | undefined {
  const preference = composePreference(env.BERTH_COMPOSE);
  if (preference === 'invalid') {
    throw new UsageError('bad-compose-choice', `BERTH_COMPOSE is "${env.BERTH_COMPOSE}"`, {
      hint: 'set BERTH_COMPOSE to v2 (docker compose) or v1 (docker-compose), or unset it to prefer v2',
    });
  }
  return preference;
}

/** The Compose to use among those found: the one BERTH_COMPOSE names, else v2, else v1. */
export function chooseCompose(
  found: ComposeCli[],
  env: NodeJS.ProcessEnv = process.env,
): ComposeCli | undefined {
  const preferred = preferredVariant(env);
  if (!preferred) return found[0];
  const chosen = found.find((cli) => cli.variant === preferred);
  if (!chosen && found.length > 0) {
    const program = preferred === 'v2' ? 'docker compose' : 'docker-compose';
    throw new EnvironmentError(
      'compose-missing',
      `BERTH_COMPOSE=${preferred}, but \`${program}\` is not installed`,
      {
        hint: `install it (berth host init --install), or unset BERTH_COMPOSE to use ${found[0]?.variant}`,
      },
    );
  }
  return chosen;
}

export async function detectCompose(env: NodeJS.ProcessEnv = process.env): Promise<ComposeCli | undefined> {
  return chooseCompose(await detectAllCompose(), env);
}

export function composeMissing(): EnvironmentError {
  return new EnvironmentError(
    'compose-missing',
    'neither `docker compose` nor `docker-compose` is installed',
    {
      hint: 'run `berth host init --install` as root, or install the Compose plugin',
    },
  );
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
