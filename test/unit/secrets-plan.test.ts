import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CappedLog } from '../../src/adapters/files.js';
import { parseConfig } from '../../src/config/load.js';
import {
  grantsOf,
  parseSecretReference,
  parseSecretsOutput,
  Redactor,
  readSecretsScript,
  redactPatch,
  redactText,
  trimValue,
  withSecretVariables,
} from '../../src/plan/secrets.js';

describe('secrets in berth.yaml', () => {
  it('reads env:, file: and command: references, to agent and hooks unless told', () => {
    const config = parseConfig(`secrets:
  GITHUB_TOKEN: { from: env:GH_TOKEN, env: true }
  NPM_TOKEN: { from: "file:~/.config/npm-token", to: [hooks] }
  STRIPE_KEY: { from: "command:op read op://dev/stripe/key" }
`);
    expect(grantsOf(config.secrets)).toEqual([
      { name: 'GITHUB_TOKEN', to: ['agent', 'hooks'], env: true },
      { name: 'NPM_TOKEN', to: ['hooks'], env: false },
      { name: 'STRIPE_KEY', to: ['agent', 'hooks'], env: false },
    ]);
    expect(parseSecretReference('env:GH_TOKEN')).toEqual({ kind: 'env', variable: 'GH_TOKEN' });
    expect(parseSecretReference('file:~/x')).toEqual({ kind: 'file', path: '~/x' });
    expect(parseSecretReference('command: op read x ')).toEqual({ kind: 'command', line: 'op read x' });
  });

  it.each([
    ['secrets: { "bad-name": { from: "env:X" } }', /bad-name/],
    ['secrets: { A: { from: "vault:x" } }', /env:NAME, file:PATH/],
    ['secrets: { A: { from: "env:" } }', /env:NAME/],
    ['secrets: { A: { from: "command:  " } }', /env:NAME/],
    ['secrets: { A: { from: "env:X", to: [] } }', /secrets\.A\.to/],
    ['secrets: { A: { from: "env:X", to: [elsewhere] } }', /secrets\.A\.to/],
    ['secrets: { A: { from: "env:X", value: "inline" } }', /secrets\.A\.value: unknown field/],
  ])('refuses %s', (yaml, problem) => {
    try {
      parseConfig(yaml);
      expect.unreachable();
    } catch (error) {
      expect((error as { details: string[] }).details.join('\n')).toMatch(problem);
    }
  });

  it('takes one trailing newline off a file`s or command`s value, no more', () => {
    expect(trimValue('tok\n')).toBe('tok');
    expect(trimValue('tok\r\n')).toBe('tok');
    expect(trimValue('tok\n\n')).toBe('tok\n');
    expect(trimValue('a b')).toBe('a b');
  });
});

describe('a secret as a variable', () => {
  it('is read from its file by the shell that becomes the command: no value in any argument', () => {
    expect(withSecretVariables([], ['npm', 'test'])).toEqual(['npm', 'test']);
    const command = withSecretVariables(['A', 'B'], ['printenv', 'A']);
    expect(command.slice(0, 2)).toEqual(['sh', '-c']);
    expect(command.slice(3)).toEqual(['berth-secrets', 'printenv', 'A']);
    expect(command[2]).toBe(
      'A="$(cat /run/secrets/A)" && export A && B="$(cat /run/secrets/B)" && export B && exec "$@"',
    );
  });

  it('reaches the command with its arguments intact (a real sh, files in a folder of this test)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-secret-sh-'));
    try {
      execFileSync('sh', ['-c', `printf 'v a"l $x\\n' > ${dir}/A`]);
      const [sh, flag, script, ...rest] = withSecretVariables(
        ['A'],
        ['sh', '-c', 'printf "%s|%s|%s" "$A" "$1" "$2"', '-', 'one two', '$HOME'],
      );
      const output = execFileSync(sh as string, [
        flag as string,
        (script as string).replaceAll('/run/secrets', dir),
        ...rest,
      ]);
      expect(output.toString()).toBe('v a"l $x|one two|$HOME');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads back a folder of secrets through the read script (a real sh)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-secret-read-'));
    try {
      execFileSync('sh', ['-c', `printf 'one' > ${dir}/A; printf 'two\nlines ' > ${dir}/B`]);
      const output = execFileSync('sh', [
        '-c',
        readSecretsScript(['A', 'B', 'MISSING']).replaceAll('/run/secrets', dir),
      ]);
      expect([...parseSecretsOutput(output)]).toEqual([
        ['A', 'one'],
        ['B', 'two\nlines '],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads back what the read script prints, by length (values with newlines and spaces too)', () => {
    const output = Buffer.concat([Buffer.from('A 3\nabcB 8\nline\nx y'), Buffer.from('C 0\n')]);
    expect([...parseSecretsOutput(output)]).toEqual([
      ['A', 'abc'],
      ['B', 'line\nx y'],
      ['C', ''],
    ]);
  });
});

describe('redaction', () => {
  it('replaces every value in a text, the longest first', () => {
    expect(redactText('token=abc123 and abc', ['abc123', 'abc'])).toBe('token=*** and ***');
    expect(redactText('nothing here', [''])).toBe('nothing here');
  });

  it('replaces a value cut across chunks, and lets the rest through unchanged', () => {
    const redactor = new Redactor(['s3cr3t-value']);
    const out = [
      redactor.push(Buffer.from('a s3cr')),
      redactor.push(Buffer.from('3t-val')),
      redactor.push(Buffer.from('ue b s3cr3t-')),
      redactor.flush(),
    ];
    expect(Buffer.concat(out).toString()).toBe('a *** b s3cr3t-');
  });

  it('gives the same text as a whole-text replace, however the output is cut (property)', () => {
    const secret = fc.stringMatching(/^[a-c]{1,6}$/);
    fc.assert(
      fc.property(
        fc.array(secret, { minLength: 1, maxLength: 3 }),
        fc.array(fc.stringMatching(/^[a-d]{0,12}$/), { maxLength: 8 }),
        (values, pieces) => {
          const redactor = new Redactor(values);
          const streamed = Buffer.concat([
            ...pieces.map((piece) => redactor.push(Buffer.from(piece))),
            redactor.flush(),
          ]).toString();
          const whole = new Redactor(values);
          const once = Buffer.concat([whole.push(Buffer.from(pieces.join(''))), whole.flush()]).toString();
          expect(streamed).toBe(once);
          for (const value of values) if (value.length >= 1) expect(streamed.includes(value)).toBe(false);
        },
      ),
    );
  });

  const dir = mkdtempSync(join(tmpdir(), 'berth-redact-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is what a capped log writes: no value reaches the file', () => {
    const file = join(dir, 'hook.log');
    const log = new CappedLog(file, undefined, ['tok-123456']);
    for (const piece of ['npm: auth tok-1', '23456 ok\n', 'tail tok-12']) log.write(piece);
    log.close();
    expect(readFileSync(file, 'utf8')).toBe('npm: auth *** ok\ntail tok-12');
  });
});

describe('a saved patch with the agent`s secrets in it', () => {
  it('masks values where they were added, and still applies: names, context, removed lines and short values kept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-patch-'));
    try {
      const git = (...args: string[]) =>
        execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t.invalid', ...args], {
          cwd: dir,
          encoding: 'utf8',
        });
      git('init', '-q');
      execFileSync('sh', ['-c', 'printf "keep these lines\\nold tok-123456\\n" > notes.txt'], { cwd: dir });
      git('add', '-A');
      git('commit', '-qm', 'base');
      execFileSync(
        'sh',
        ['-c', 'printf "keep these lines\\nnew tok-123456 here\\n" > notes.txt && echo x > tok-123456.txt'],
        { cwd: dir },
      );
      git('add', '-A');
      const patch = git('diff', '--cached', '--binary', 'HEAD');
      const masked = redactPatch(patch, ['tok-123456', 'e']);
      expect(masked).toContain('+new *** here');
      // The base's own text (a removed line, the context), the file name and a short value stay.
      expect(masked).toContain('-old tok-123456');
      expect(masked).toContain(' keep these lines');
      expect(masked).toContain('b/tok-123456.txt');
      git('reset', '-q', '--hard');
      execFileSync('git', ['apply', '--check', '-'], { cwd: dir, input: masked });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
