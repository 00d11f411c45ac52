import { EnvironmentError, UsageError } from '../errors.js';
import { type ComposeVariant, composePreference } from '../plan/compose-source.js';
import { findExecutable, run } from './programs.js';

export type { ComposeVariant };

/** How to call Compose on this host: `docker compose` (v2) or `docker-compose` (v1). */
export interface ComposeCli {
  variant: ComposeVariant;
  version: string;
  /** The program and the leading arguments; append compose arguments to these. */
  command: [string, ...string[]];
}

/** What asking one Compose for its version found: it, its absence, or a failure in its own words. */
export type ComposeProbe =
  | { kind: 'found'; cli: ComposeCli }
  | { kind: 'absent' }
  | { kind: 'failed'; program: string; reason: string };

/** What the docker CLI says when it has no compose plugin (Docker 25+, and older). */
const NO_PLUGIN = /unknown command: docker compose|'compose' is not a docker command/;

async function probe(command: [string, ...string[]], variant: ComposeVariant): Promise<ComposeProbe> {
  const [program, ...prefix] = command;
  if (!findExecutable(program)) return { kind: 'absent' };
  // v2 is asked without --short: a docker CLI without the plugin refuses the flag before the command.
  const args = variant === 'v2' ? [...prefix, 'version'] : [...prefix, 'version', '--short'];
  const result = await run(program, args, { timeoutMs: 15_000 });
  const said = (result.stderr || result.stdout).trim();
  if (result.exitCode === 0) {
    const version = /(?:version\s+)?v?(\d+\.\d+\S*)/.exec(result.stdout.trim())?.[1];
    if (version) return { kind: 'found', cli: { variant, version, command } };
    return { kind: 'failed', program: command.join(' '), reason: `no version in "${said}"` };
  }
  if (variant === 'v2' && NO_PLUGIN.test(said)) return { kind: 'absent' };
  const reason = result.timedOut
    ? 'it did not answer within 15 s'
    : said.split('\n')[0] || `it exited with ${result.exitCode}`;
  return { kind: 'failed', program: command.join(' '), reason };
}

export interface ComposeSurvey {
  /** Every Compose that answered, v2 first. */
  found: ComposeCli[];
  /** Those that are installed but could not be asked: not to be taken for "not installed". */
  failures: Array<{ program: string; reason: string }>;
}

/** Every Compose on this host, v2 first, and the ones that failed to answer. */
export async function surveyCompose(): Promise<ComposeSurvey> {
  const probes = await Promise.all([probe(['docker', 'compose'], 'v2'), probe(['docker-compose'], 'v1')]);
  return {
    found: probes.flatMap((p) => (p.kind === 'found' ? [p.cli] : [])),
    failures: probes.flatMap((p) => (p.kind === 'failed' ? [{ program: p.program, reason: p.reason }] : [])),
  };
}

/** The variant BERTH_COMPOSE asks for, if any; a clear error for anything but v1 or v2. */
export function preferredVariant(env: NodeJS.ProcessEnv): ComposeVariant | undefined {
  const preference = composePreference(env.BERTH_COMPOSE);
  if (preference === 'invalid') {
    throw new UsageError('bad-compose-choice', `BERTH_COMPOSE is "${env.BERTH_COMPOSE}"`, {
      hint: 'set BERTH_COMPOSE to v2 (docker compose) or v1 (docker-compose), or unset it to prefer v2',
    });
  }
  return preference;
}

/** The Compose to use among those found: the one BERTH_COMPOSE names, else v2, else v1. */
export function chooseCompose(found: ComposeCli[], env: NodeJS.ProcessEnv): ComposeCli | undefined {
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

/** No Compose to use: none installed, or (in their own words) why the installed ones did not answer. */
export function composeMissing(failures: ComposeSurvey['failures'] = []): EnvironmentError {
  const failure = failures[0];
  if (failure) {
    return new EnvironmentError(
      'compose-probe-failed',
      `\`${failure.program} version\` failed: ${failure.reason}`,
      {
        hint: 'run it yourself to see why; berth needs it to answer (reinstall with berth host init --install)',
      },
    );
  }
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
