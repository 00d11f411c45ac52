import { execa } from 'execa';
import type { AgentView, CommandName, ErrorView, ResultOf, TaskView } from '../../src/contract.js';
import { checkEnvelope, checkJsonOutput, jsonMode } from './contract.js';

export const BIN = new URL('../../dist/berth.mjs', import.meta.url).pathname;

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built `berth` binary as a user would, never throwing on a non-zero exit. With --json, what
 * it printed is checked against the published schema (with Ajv): a run whose output does not validate
 * fails the test there, whatever the test goes on to look at.
 */
export async function berth(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; extendEnv?: boolean } = {},
): Promise<CliResult> {
  // The node that runs the tests, by path: a test may give berth a PATH without node on it.
  const result = await execa(process.execPath, [BIN, ...args], {
    reject: false,
    env: options.env,
    extendEnv: options.extendEnv ?? true,
    cwd: options.cwd,
    stdin: 'ignore',
  });
  const run = {
    exitCode: result.exitCode ?? 1,
    stdout: String(result.stdout),
    stderr: String(result.stderr),
  };
  if (jsonMode(args).json) checkJsonOutput(args, run.stdout, run.exitCode);
  return run;
}

/**
 * Every line berth wrote to stderr is progress (`berth: …`) or the one-line error with its hint and
 * detail lines: never a raw stack, a bare errno or an error without a hint.
 */
export function expectCleanStderr(stderr: string): string[] {
  const problems: string[] = [];
  for (const line of stderr.split('\n').filter(Boolean)) {
    if (!line.startsWith('berth: ')) problems.push(`not berth's: ${line}`);
    if (line.startsWith('berth: error: ') && !/\(hint: .+\)$/.test(line)) problems.push(`no hint: ${line}`);
    if (/\bat .+:\d+:\d+\)?$|internal|ENOENT|SyntaxError|TypeError/.test(line)) problems.push(`raw: ${line}`);
  }
  return problems;
}

/**
 * The result of a command run with --json, checked against the published schema (with Ajv): the
 * envelope, the command, and a result of exactly the command's shape. Fails the test otherwise.
 */
export function resultOf<C extends CommandName>(run: CliResult, command: C): ResultOf<C> {
  const envelope = envelopeOf(run, command);
  if (envelope.outcome !== 'success') {
    throw new Error(`berth ${command} failed (exit ${run.exitCode}): ${JSON.stringify(envelope.error)}`);
  }
  return envelope.result as ResultOf<C>;
}

/** The error of a command run with --json that failed, checked against the published schema. */
export function errorOf(run: CliResult, command: string): ErrorView {
  const envelope = envelopeOf(run, command);
  if (envelope.outcome !== 'error') throw new Error(`berth ${command} did not fail: ${run.stdout}`);
  return envelope.error;
}

function envelopeOf(run: CliResult, command: string) {
  const envelope = checkEnvelope(parsed(run), `berth ${command} (exit ${run.exitCode})`);
  if (envelope.command !== command)
    throw new Error(`expected an object of berth ${command}, got one of ${envelope.command}: ${run.stdout}`);
  return envelope;
}

/** `berth ls --json`'s agents, each with its last task, flattened for reading. */
export function listedAgents(run: CliResult): Array<AgentView & { task: TaskView | null }> {
  return resultOf(run, 'ls').agents.flatMap((entry) =>
    entry.agent ? [{ ...entry.agent, task: entry.task }] : [],
  );
}

function parsed(run: CliResult): unknown {
  try {
    return JSON.parse(run.stdout);
  } catch {
    throw new Error(`not one JSON object (exit ${run.exitCode}): ${run.stdout}\n${run.stderr}`);
  }
}

/** An execa result as a CliResult (for runs made with execa directly, to kill or time them). */
export function cli(result: { exitCode?: number; stdout: unknown; stderr: unknown }): CliResult {
  return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/**
 * gc's actions for one repository: its sweep of host leases is host-wide, and a host in use holds other
 * repositories' leftovers (a test asserts on what it made, never on the whole host being empty).
 */
export function ownGcActions<A extends { kind: string; reason: string }>(actions: A[], root: string): A[] {
  return actions.filter((action) => action.kind !== 'lease' || action.reason.includes(` of ${root},`));
}
