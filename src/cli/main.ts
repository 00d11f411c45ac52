import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { packageRoot } from '../package-root.js';
import type { CliContext } from './commands/_shared.js';
import { registerComplete } from './commands/complete.js';
import { registerConfig } from './commands/config.js';
import { registerEnv } from './commands/env.js';
import { registerExec } from './commands/exec.js';
import { registerGc } from './commands/gc.js';
import { registerHeartbeat } from './commands/heartbeat.js';
import { registerHostInit } from './commands/host-init.js';
import { registerLogs } from './commands/logs.js';
import { registerLs } from './commands/ls.js';
import { registerProvision } from './commands/provision.js';
import { registerRun } from './commands/run.js';
import { registerShell } from './commands/shell.js';
import { registerShow } from './commands/show.js';
import { registerSync } from './commands/sync.js';
import { registerTeardown } from './commands/teardown.js';
import { registerUp } from './commands/up.js';
import { type Io, processIo, reportError } from './output.js';

const { version } = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {
  version: string;
};

export function buildProgram(context: CliContext): Command {
  const { io } = context;
  const program = new Command('berth')
    .description('Give each AI coding agent its own git worktree, container, Postgres and Redis.')
    .version(version, '-v, --version')
    .showHelpAfterError('(run berth --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  const host = program.command('host').description('prepare this host');
  registerHostInit(host, io);
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
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    return reportError(io, error, argv.includes('--json'));
  }
}
