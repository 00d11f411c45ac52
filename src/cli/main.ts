import { Command, CommanderError } from 'commander';
import { contractCommands } from '../contract.js';
import { UsageError } from '../errors.js';
import { berthVersion } from '../package-root.js';
import type { CliContext } from './commands/_shared.js';
import { registerAgentHooks } from './commands/agent-hooks.js';
import { registerComplete } from './commands/complete.js';
import { registerConfig } from './commands/config.js';
import { registerDb } from './commands/db.js';
import { registerEgress } from './commands/egress.js';
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
import { type Io, printResult, processIo, reportError } from './output.js';

const version = berthVersion();

/** The program; `helpOut` takes what Commander prints itself (help, the version): stdout by default. */
export function buildProgram(
  context: CliContext,
  helpOut: (text: string) => void = context.io.stdout,
): Command {
  const { io } = context;
  const program = new Command('berth')
    .description('Give each AI coding agent its own git worktree, container, Postgres and Redis.')
    .version(version, '-v, --version')
    .exitOverride()
    // Commander's own error lines are not printed: runCli turns them into berth's one-line errors.
    // Help it prints as an error (berth, or a group such as `berth host`, alone) goes to stderr.
    .configureOutput({ writeOut: helpOut, writeErr: io.stderr, outputError: () => {} });
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
  registerEgress(program, context);
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

/** Every command one can run, with its group: "host init", "provision", "agent-hooks watch-claude". */
export function commandNames(program: Command): string[] {
  return program.commands.flatMap((command) =>
    command.commands.length > 0
      ? command.commands.map((sub) => `${command.name()} ${sub.name()}`)
      : [command.name()],
  );
}

/** Runs the CLI in-process and returns the exit code; only the entry point calls process.exit. */
export async function runCli(argv: string[], io: Io = processIo): Promise<number> {
  let exitCode = 0;
  const json = jsonWanted(argv);
  // With --json, what Commander prints itself (help, the version) becomes the result of one object.
  const printed: string[] = [];
  const program = buildProgram(
    { io, setExitCode: (code) => (exitCode = code) },
    json ? (text) => void printed.push(text) : io.stdout,
  );
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError && error.exitCode === 0) {
      if (!json) return 0;
      if (error.code === 'commander.version')
        printResult(io, 'version', { version: printed.join('').trim() });
      else printResult(io, 'help', { for: helpSubject(argv, program), text: printed.join('') });
      return 0;
    }
    if (error instanceof CommanderError && error.code === 'commander.help') {
      // berth, or a group, without a command: the help went to stderr; say what is missing.
      const missing = new UsageError('usage', 'no command given', { hint: 'the commands are listed above' });
      return reportError(io, missing, json, commandOf(argv, program));
    }
    const failure = error instanceof CommanderError ? usageError(error, argv, program) : error;
    return reportError(io, failure, json, commandOf(argv, program));
  }
}

/** --json given to berth (not to the command after `--`). */
function jsonWanted(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return argv.slice(0, end === -1 ? undefined : end).includes('--json');
}

/** The words before `--` that are not options. */
function wordsOf(argv: string[]): string[] {
  const end = argv.indexOf('--');
  return argv.slice(0, end === -1 ? undefined : end).filter((w) => !w.startsWith('-'));
}

/**
 * The command an argument list runs, as the contract names it ("host init", "up --tasks", "ls"): a
 * group's command from the program itself, and a mode (`up --tasks`, `ls --watch`) when the contract
 * gives it a name of its own.
 */
export function commandOf(argv: string[], program: Command): string {
  const [first = '', second] = wordsOf(argv);
  const group = program.commands.find((c) => c.name() === first && c.commands.length > 0);
  const command = group && second ? `${first} ${second}` : first;
  const mode = contractCommands().find(
    (name) =>
      name.startsWith(`${command} --`) &&
      argv.some(
        (word) =>
          word === name.slice(command.length + 1) || word.startsWith(`${name.slice(command.length + 1)}=`),
      ),
  );
  return mode ?? command;
}

/** The command a help is about: `berth db reset --help`, `berth help db` (its one word); "" for berth. */
function helpSubject(argv: string[], program: Command): string {
  const words = wordsOf(argv);
  return commandOf(words[0] === 'help' ? words.slice(1, 2) : argv, program);
}

/** Commander's parse errors in berth's form: one line, a hint, exit 2. */
function usageError(error: CommanderError, argv: string[], program: Command): UsageError {
  const message = error.message.replace(/^error: /, '');
  const command = commandOf(argv, program);
  const takesCommand = command === 'exec' || command === 'run';
  const hint =
    error.code === 'commander.unknownOption' && takesCommand
      ? `put -- before the agent's command, so its options are its own: berth ${command} NAME -- <command> <options>`
      : error.code === 'commander.unknownCommand'
        ? 'run berth --help for the commands'
        : `see berth ${command.replace(/ --.*/, '')} --help`.replace(/ {2}/, ' ');
  return new UsageError('usage', message, { hint });
}
