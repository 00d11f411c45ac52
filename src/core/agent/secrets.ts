import { isAbsolute, join } from 'node:path';
import { execInContainer } from '../../adapters/docker.js';
import { readText } from '../../adapters/files.js';
import { run } from '../../adapters/programs.js';
import type { BerthConfig } from '../../config/schema.js';
import { BerthError, interrupted, UsageError } from '../../errors.js';
import type { AgentRecord } from '../../plan/agent.js';
import {
  grantsOf,
  parseSecretReference,
  parseSecretsOutput,
  readSecretsScript,
  removeSecretsScript,
  type SecretGrant,
  trimValue,
  writeSecretScript,
} from '../../plan/secrets.js';
import { agentConfig, type RepoContext, trustedTree } from '../context.js';
import { agentContainerId } from './hooks.js';

/** Secrets resolved on the host: held in this process's memory only, for as long as it needs them. */
export interface ResolvedSecrets {
  grants: SecretGrant[];
  values: Map<string, string>;
}

export const NO_SECRETS: ResolvedSecrets = { grants: [], values: new Map() };

/** How long a `command:` reference may take (a password manager asking its agent, say). */
const COMMAND_TIMEOUT_MS = 60_000;

function unresolved(name: string, from: string, why: string): UsageError {
  return new UsageError('secret-unresolved', `secret ${name} (from ${from}): ${why}`, {
    hint: `make the reference work on this host, or change secrets.${name}.from in berth.yaml; nothing was made`,
  });
}

/**
 * Resolves every secret of the config on this host, as the user running berth: an environment
 * variable, a file (~ is the home folder, a relative path is from the trusted working tree), or a
 * command's output (run in the trusted working tree). Never from an agent's worktree: a relative path
 * or a `./script` there is the agent's to plant. A reference that cannot be resolved is one error
 * naming the secret and the reference.
 */
export async function resolveSecrets(
  context: RepoContext,
  config: BerthConfig,
  /** Ctrl-C (or SIGTERM) to berth: a command still running is stopped, with what it started. */
  signal?: AbortSignal,
): Promise<ResolvedSecrets> {
  const { env } = context.runtime;
  const tree = trustedTree(context);
  const entries = Object.entries(config.secrets);
  const values = await Promise.all(
    entries.map(async ([name, secret]): Promise<[string, string]> => {
      const reference = parseSecretReference(secret.from);
      if (reference.kind === 'env') {
        const value = env[reference.variable];
        if (!value) throw unresolved(name, secret.from, `${reference.variable} is not set (or empty)`);
        return [name, value];
      }
      if (reference.kind === 'file') {
        const home = env.HOME ?? '';
        const expanded = reference.path.replace(/^~(?=$|\/)/, home);
        const path = isAbsolute(expanded) ? expanded : join(tree, expanded);
        let text: string | undefined;
        try {
          text = readText(path);
        } catch (error) {
          throw unresolved(
            name,
            secret.from,
            `${path} cannot be read (${(error as { code?: string }).code})`,
          );
        }
        if (text === undefined) throw unresolved(name, secret.from, `${path} does not exist`);
        const value = trimValue(text);
        if (!value) throw unresolved(name, secret.from, `${path} is empty`);
        return [name, value];
      }
      // Its own group: a timeout or an interrupt stops what the line started too.
      const result = await run('sh', ['-c', reference.line], {
        cwd: tree,
        env: { ...env },
        timeoutMs: COMMAND_TIMEOUT_MS,
        group: true,
        ...(signal && { signal }),
      });
      if (signal?.aborted) throw interrupted();
      if (result.timedOut) throw unresolved(name, secret.from, `it ran past ${COMMAND_TIMEOUT_MS / 1000} s`);
      // Its stderr is not shown: a failing command may have printed the value there.
      if (result.exitCode !== 0)
        throw unresolved(
          name,
          secret.from,
          `it exited with ${result.exitCode} (its stderr is not shown: it may hold the value; run the command yourself to see it)`,
        );
      const value = trimValue(result.stdout);
      if (!value) throw unresolved(name, secret.from, 'it printed nothing');
      return [name, value];
    }),
  );
  return { grants: grantsOf(config.secrets), values: new Map(values) };
}

/** The names of the secrets that go to the agent, or to the hooks. */
export function secretsFor(grants: readonly SecretGrant[], to: 'agent' | 'hooks'): string[] {
  return grants.filter((grant) => grant.to.includes(to)).map((grant) => grant.name);
}

/** Of those, the ones that are also variables. */
export function variablesFor(grants: readonly SecretGrant[], to: 'agent' | 'hooks'): string[] {
  return grants.filter((grant) => grant.env && grant.to.includes(to)).map((grant) => grant.name);
}

/** Writes secrets into the running agent container as /run/secrets/NAME, each through an exec's stdin. */
export async function giveSecrets(
  context: RepoContext,
  agent: AgentRecord,
  secrets: ResolvedSecrets,
  names: readonly string[],
): Promise<void> {
  if (names.length === 0) return;
  const container = await agentContainerId(context, agent);
  for (const name of names) {
    const value = secrets.values.get(name);
    if (value === undefined) continue;
    const result = await execInContainer(
      context.docker,
      container,
      ['sh', '-c', writeSecretScript(name, agent.user)],
      { user: '0', input: value },
    );
    if (result.exitCode !== 0)
      throw new BerthError(
        'secret-not-given',
        `secret ${name} could not be written into ${agent.name}'s container: ${result.stderr.trim().split('\n')[0] ?? `exit ${result.exitCode}`}`,
        {
          hint: 'the agent image needs sh, mktemp, chown and chmod; an agent made by an older berth must be provisioned again',
        },
      );
  }
}

/** Removes secrets from the agent container (the hooks' own, once they ran; ones no longer configured). */
export async function takeSecrets(context: RepoContext, agent: AgentRecord, names: readonly string[]) {
  if (names.length === 0) return;
  const container = await agentContainerId(context, agent);
  await execInContainer(context.docker, container, ['sh', '-c', removeSecretsScript(names)], { user: '0' });
}

/**
 * The values of the agent's secrets as its container holds them now, for replacing them in output:
 * berth keeps none, so a later command reads them back (as root, from the tmpfs).
 */
export async function secretValuesIn(context: RepoContext, agent: AgentRecord): Promise<string[]> {
  const names = (agent.secrets ?? []).map((grant) => grant.name);
  if (names.length === 0) return [];
  try {
    const container = await agentContainerId(context, agent);
    const result = await execInContainer(context.docker, container, ['sh', '-c', readSecretsScript(names)], {
      user: '0',
    });
    return [...parseSecretsOutput(result.stdout).values()];
  } catch {
    return [];
  }
}

/**
 * What a logged command's output is masked with: the values the agent's container holds, and its
 * hooks-only ones resolved again on the host from the config its provision kept (the container no
 * longer holds them, but a setup hook may have written one where the agent reads it: a token in
 * `.npmrc`). One that cannot be resolved now is not masked (berth keeps no value to mask it with).
 */
export async function valuesToMask(
  context: RepoContext,
  agent: AgentRecord,
  signal?: AbortSignal,
): Promise<string[]> {
  const held = await secretValuesIn(context, agent);
  const hooksOnly = new Set(
    (agent.secrets ?? []).filter((grant) => !grant.to.includes('agent')).map((grant) => grant.name),
  );
  if (hooksOnly.size === 0) return held;
  const config = agentConfig(context, agent);
  const secrets = Object.fromEntries(Object.entries(config.secrets).filter(([name]) => hooksOnly.has(name)));
  try {
    const resolved = await resolveSecrets(context, { ...config, secrets }, signal);
    return [...new Set([...held, ...resolved.values.values()])];
  } catch (error) {
    if (signal?.aborted) throw error;
    return held;
  }
}
