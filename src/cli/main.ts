import { Command, CommanderError } from 'commander';
import { UsageError } from '../errors.js';
import { berthVersion } from '../package-root.js';
import type { CliContext } from './commands/_shared.js';
import { registerAgentHooks } from './commands/agent-hooks.js';
import { registerComplete } from './commands/complete.js';
import { registerConfig } from './commands/config.js';
import { registerDb } from './commands/db.js';
import { registerEnv } from './commands/env.js';
import { registerExec } from './commands/exec.js';
import { registerFleetCancel } from './commands/fleet-cancel.js';
import { registerFleetQueue } from './commands/fleet-queue.js';
import { registerFleetStatus } from './commands/fleet-status.js';
import { registerFleetSubmit } from './commands/fleet-submit.js';
import { registerFleetWait } from './commands/fleet-wait.js';
import { registerFleetWorker } from './commands/fleet-worker.js';
import { registerGc } from './commands/gc.js';
import { registerHeartbeat } from './commands/heartbeat.js';
import { registerHostInit } from './commands/host-init.js';
import { registerHostUninstall } from './commands/host-uninstall.js';
import { registerLogs } from './commands/logs.js';
import { registerLs } from './commands/ls.js';
import { registerMcp } from './commands/mcp.js';
import { registerPool } from './commands/pool.js';
import { registerProvision } from './commands/provision.js';
import { registerRun } from './commands/run.js';
import { registerShell } from './commands/shell.js';
import { registerShow } from './commands/show.js';
import { registerSync } from './commands/sync.js';
import { registerTeardown } from './commands/teardown.js';
import { registerUi } from './commands/ui.js';
import { registerUp } from './commands/up.js';
import { type Io, processIo, reportError } from './output.js';

const version = berthVersion();

export function buildProgram(context: CliContext): Command {
  const { io } = context;
  const program = new Command('berth')
    .description('Give each AI coding agent its own git worktree, container, Postgres and Redis.')
    .version(version, '-v, --version')
    .exitOverride()
    // Commander's own error lines are not printed: runCli turns them into berth's one-line errors.
    .configureOutput({ writeOut: io.stdout, writeErr: () => {} });
  const host = program.command('host').description('prepare this host');
  registerHostInit(host, io);
  registerHostUninstall(host, io);
  registerProvision(program, context);
  registerLs(program, context);
  registerExec(program, context);
  registerShell(program, context);
  registerEnv(program, context);
  registerTeardown(program, context);
  registerUp(program, context);
  registerRun(program, context);
  registerComplete(program, context);
  registerSync(program, context);
  registerShow(program, context);
  registerLogs(program, context);
  registerHeartbeat(program, context);
  registerGc(program, context);
  registerConfig(program, context);
  registerDb(program, context);
  registerPool(program, context);
  registerMcp(program, context);
  registerAgentHooks(program, context);
  registerUi(program, context);
  const fleet = program.command('fleet').description('many hosts taking tasks from one queue');
  registerFleetQueue(fleet, context);
  registerFleetWorker(fleet, context);
  registerFleetSubmit(fleet, context);
  registerFleetStatus(fleet, context);
  registerFleetWait(fleet, context);
  registerFleetCancel(fleet, context);
  return program;
}

/** Runs the CLI in-process and returns the exit code; only the entry point calls process.exit. */
export async function runCli(argv: string[], io: Io = processIo): Promise<number> {
  let exitCode = 0;
  const program = buildProgram({ io, setExitCode: (code) => (exitCode = code) });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError && error.exitCode === 0) return 0;
    const failure = error instanceof CommanderError ? usageError(error, argv) : error;
    return reportError(io, failure, argv.includes('--json'), commandOf(argv));
  }
}

/** The command an argument list runs, as the contract names it ("host init", "up --tasks", "ls"). */
export function commandOf(argv: string[]): string {
  const words = argv
    .slice(0, argv.indexOf('--') === -1 ? undefined : argv.indexOf('--'))
    .filter((w) => !w.startsWith('-'));
  const [first = '', second] = words;
  if (
    (first === 'host' ||
      first === 'config' ||
      first === 'fleet' ||
      first === 'db' ||
      first === 'pool' ||
      first === 'agent-hooks') &&
    second
  )
    return `${first} ${second}`;
  if (first === 'up' && argv.some((word) => word === '--tasks' || word.startsWith('--tasks=')))
    return 'up --tasks';
  return first;
}

/** Commander's parse errors in berth's form: one line, a hint, exit 2. */
function usageError(error: CommanderError, argv: string[]): UsageError {
  const message = error.message.replace(/^error: /, '');
  const command = commandOf(argv);
  const takesCommand = command === 'exec' || command === 'run';
  const hint =
    error.code === 'commander.unknownOption' && takesCommand
      ? `put -- before the agent's command, so its options are its own: berth ${command} NAME -- <command> <options>`
      : error.code === 'commander.unknownCommand'
        ? 'run berth --help for the commands'
        : `see berth ${command || ''} --help`.replace(/ {2}/, ' ');
  return new UsageError('usage', message, { hint });
}
