import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildProgram, runCli } from '../../src/cli/main.js';
import { reportError } from '../../src/cli/output.js';
import { CONTRACT_VERSION, envelopeSchema } from '../../src/contract.js';
import { BerthError, EnvironmentError, errorLine } from '../../src/errors.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    stdout: (t: string) => void out.push(t),
    stderr: (t: string) => void err.push(t),
    write: async (chunk: string | Buffer) => void out.push(String(chunk)),
  };
  return { io, out, err };
}

describe('the command line', () => {
  it('prints the package version', async () => {
    const { io, out } = capture();
    const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
    expect(await runCli(['--version'], io)).toBe(0);
    expect(out.join('')).toBe(`${version}\n`);
  });

  it('lists every command with what it does', async () => {
    const { io, out } = capture();
    expect(await runCli(['--help'], io)).toBe(0);
    const listed = [
      ...out.join('').matchAll(/^ {2}([a-z-]+)(?: \[options\])?(?: [^ ]+)*? {2,}(\S.*)$/gm),
    ].map((m) => m[1]);
    // Derived from the program: a new command needs no entry here.
    const program = buildProgram({ io, setExitCode: () => {} });
    const visible = program.commands.filter((c) => !(c as unknown as { _hidden: boolean })._hidden);
    expect(listed.sort()).toEqual([...visible.map((c) => c.name()), 'help'].sort());
    expect(listed).toContain('provision');
  });

  it('exits 2 on an unknown command', async () => {
    const { io, err } = capture();
    expect(await runCli(['launch-rockets'], io)).toBe(2);
    expect(err.join('')).toMatch(/unknown command/);
  });
});

describe('error output', () => {
  const error = new EnvironmentError('engine-unreachable', 'no Docker engine socket at unix:///x.sock', {
    hint: 'start the engine',
  });

  it('is one line with the hint, and the exit code of the error', () => {
    const { io, out, err } = capture();
    expect(reportError(io, error, false, 'host init')).toBe(3);
    expect(out).toEqual([]);
    expect(err.join('').trimEnd().split('\n')).toEqual([
      'berth: error: no Docker engine socket at unix:///x.sock (hint: start the engine)',
    ]);
  });

  it('has one space before its log, whatever the message ended with (the engine`s often end with one)', () => {
    const trailing = new BerthError('x', 'the worker container: failed: unknown ', { logFile: '/tmp/p.log' });
    expect(errorLine(trailing)).toBe('berth: error: the worker container: failed: unknown (log: /tmp/p.log)');
  });

  it('says a current folder removed under berth is one, not a bug', () => {
    const gone = Object.assign(new Error('ENOENT: no such file or directory, uv_cwd'), {
      code: 'ENOENT',
      syscall: 'uv_cwd',
    });
    expect(errorLine(gone)).toBe(
      'berth: error: the current folder no longer exists (hint: cd to an existing folder, or pass --repo)',
    );
  });

  it('is one JSON object on stdout with --json: the envelope of the contract', () => {
    const { io, out } = capture();
    reportError(io, error, true, 'host init');
    const printed = JSON.parse(out.join(''));
    expect(envelopeSchema('host init').parse(printed)).toEqual({
      contract: CONTRACT_VERSION,
      command: 'host init',
      outcome: 'error',
      error: {
        code: 'engine-unreachable',
        message: 'no Docker engine socket at unix:///x.sock',
        hint: 'start the engine',
      },
    });
  });
});
