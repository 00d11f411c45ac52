import { listContainers, stopExec } from '../../adapters/docker.js';
import { dockerExec, type ExecTarget } from '../../adapters/docker-cli.js';
import { appendFile, readText } from '../../adapters/files.js';
import { run } from '../../adapters/programs.js';
import type { HookCommand } from '../../config/schema.js';
import { BerthError, EnvironmentError, interrupted } from '../../errors.js';
import type { AgentRecord } from '../../plan/agent.js';
import { withWorkspace } from '../../plan/devcontainer.js';
import { parseDuration } from '../../plan/duration.js';
import { agentEnv } from '../../plan/env.js';
import { serviceLabels } from '../../plan/names.js';
import { withSecretVariables } from '../../plan/secrets.js';
import { namedLog } from '../../state/paths.js';
import { type RepoContext, trustedTree } from '../context.js';
import { type ResolvedSecrets, valuesToMask, variablesFor } from './secrets.js';

export const HOOK_NAMES = ['setup', 'migrate', 'seed', 'teardown', 'post-teardown'] as const;
export type HookName = (typeof HOOK_NAMES)[number];

export function hookLog(logDir: string, hook: HookName): string {
  return namedLog(logDir, hook);
}

/** The id of the agent's own container (service `agent`), found by berth's labels. */
export async function agentContainerId(context: RepoContext, agent: AgentRecord): Promise<string> {
  const containers = await listContainers(context.docker, serviceLabels(agent, 'agent'));
  const running = containers.find((c) => c.state === 'running');
  if (!running) {
    throw new EnvironmentError('agent-not-running', `the container of agent ${agent.name} is not running`, {
      hint: `see \`berth ls\`; start it with docker compose -p ${agent.composeProject} -f ${agent.composeFile} up -d`,
    });
  }
  return running.id;
}

/** The agent's running container, its user and its worktree: where `exec` and hooks run commands. */
export async function agentExecTarget(context: RepoContext, agent: AgentRecord): Promise<ExecTarget> {
  return {
    containerId: await agentContainerId(context, agent),
    user: `${agent.user.uid}:${agent.user.gid}`,
    workdir: agent.worktree,
  };
}

export interface HookRun {
  /** Where the hook's log goes: the agent's logs folder, or its history once the agent is gone. */
  logDir?: string;
  signal?: AbortSignal;
  /** hookTimeout from the config: a command's own `timeout` wins. */
  timeout?: string | number;
  /**
   * The secrets resolved for this run (provision, sync): the hooks' variables come from them, and their
   * values become *** in the log. Without them, the agent's own, read back from its container.
   */
  secrets?: ResolvedSecrets;
}

/** The lines of a log a failure shows: its last few. */
const TAIL_LINES = 8;

/** Runs a hook's commands in order, in the agent container or on the host; stops at the first failure. */
export async function runHooks(
  context: RepoContext,
  agent: AgentRecord,
  hook: HookName,
  commands: HookCommand[],
  options: HookRun = {},
) {
  if (commands.length === 0) return;
  const logDir = options.logDir ?? context.paths.agentLogs(agent.name);
  const logFile = hookLog(logDir, hook);
  const given = options.secrets;
  const inContainer = commands.some((entry) => typeof entry === 'string' || entry.on === 'agent');
  const redact = given
    ? [...given.values.values()]
    : inContainer && agent.secrets?.length
      ? await valuesToMask(context, agent, options.signal)
      : [];
  const variables = given ? variablesFor(given.grants, 'hooks') : variablesFor(agent.secrets ?? [], 'agent');
  const hostVariables = Object.fromEntries(
    given
      ? variables.flatMap((name) => (given.values.has(name) ? [[name, given.values.get(name)]] : []))
      : [],
  );
  for (const entry of commands) {
    const {
      run: written,
      on,
      timeout,
    } = typeof entry === 'string' ? { run: entry, on: 'agent' as const, timeout: undefined } : entry;
    const command = withWorkspace(written, agent.worktree);
    const limit = parseDuration(timeout ?? options.timeout ?? '10m');
    appendFile(
      logFile,
      `$ ${command}   (${hook}, on ${on}, ${new Date(context.runtime.now()).toISOString()})\n`,
    );
    const timer = AbortSignal.timeout(limit * 1000);
    const signal = options.signal ? AbortSignal.any([options.signal, timer]) : timer;
    // The command is the user's own shell line from berth.yaml: sh runs it as written.
    const exitCode =
      on === 'host'
        ? (
            await run('sh', ['-c', command], {
              // From the trusted working tree, never the agent's worktree (BERTH_WORKTREE names it): a
              // relative `./script` there would be the agent's, run on the host.
              cwd: trustedTree(context),
              env: { ...context.runtime.env, ...agentEnv(agent, 'host'), ...hostVariables },
              logFile,
              signal,
              group: true,
              redact,
            })
          ).exitCode
        : await inAgent(context, agent, withSecretVariables(variables, ['sh', '-c', command]), {
            logFile,
            signal,
            redact,
          });
    if (options.signal?.aborted) throw interrupted();
    if (timer.aborted) {
      throw new BerthError(
        'hook-timeout',
        `${hook} command \`${command}\` did not finish within ${limit} s: it was stopped`,
        {
          hint: `make it finish sooner, or give it more time (timeout: on the command, or hookTimeout in berth.yaml)`,
          logFile,
          details: lastLines(logFile),
        },
      );
    }
    if (exitCode !== 0) {
      throw new BerthError('hook-failed', `${hook} command \`${command}\` exited with ${exitCode}`, {
        hint: `fix the command (hooks.${hook} in berth.yaml); its output is in the log`,
        logFile,
        details: lastLines(logFile),
      });
    }
  }
}

async function inAgent(
  context: RepoContext,
  agent: AgentRecord,
  command: string[],
  options: { logFile: string; signal: AbortSignal; redact: readonly string[] },
) {
  const target = await agentExecTarget(context, agent);
  const result = await dockerExec(target, command, {
    ...options,
    stop: (marker) => stopExec(context.docker, target.containerId, marker),
  });
  return result.exitCode;
}

function lastLines(logFile: string): string[] {
  return (readText(logFile) ?? '')
    .split('\n')
    .filter((line) => line.trim())
    .slice(-TAIL_LINES)
    .map((line) => `| ${line.slice(0, 200)}`);
}
