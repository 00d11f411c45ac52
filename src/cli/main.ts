import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerHostInit } from './commands/host-init.js';
import { type Io, processIo, reportError } from './output.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

export function buildProgram(io: Io): Command {
  const program = new Command('berth')
    .description('Give each AI coding agent its own git worktree, container, Postgres and Redis.')
    .version(version, '-v, --version')
    .showHelpAfterError('(run berth --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  const host = program.command('host').description('prepare this host');
  registerHostInit(host, io);
  return program;
}

/** Runs the CLI in-process and returns the exit code; only the entry point calls process.exit. */
export async function runCli(argv: string[], io: Io = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    return reportError(io, error, argv.includes('--json'));
  }
}
