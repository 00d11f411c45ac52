import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildProgram, commandNames, runCli } from '../../src/cli/main.js';
import { jsonSchema } from '../../src/config/schema.js';
import {
  CONTRACT_VERSION,
  commandsWithoutJson,
  contractCommands,
  envelopeSchema,
  resultSchemas,
  resultsJsonSchema,
} from '../../src/contract.js';
import { checkJsonOutput, schemaVariants } from '../helpers/contract.js';

const quiet = { stdout: () => {}, stderr: () => {}, write: async () => {} };
const program = () => buildProgram({ io: quiet, setExitCode: () => {} });

/** Runs the CLI in-process with --json and checks what it printed against the published schema. */
async function printed(args: string[]) {
  const out: string[] = [];
  const io = { ...quiet, stdout: (t: string) => void out.push(t) };
  const exitCode = await runCli(args, io);
  const [envelope] = checkJsonOutput(args, out.join(''), exitCode);
  return { exitCode, envelope: envelope as Record<string, unknown> & { command: string; outcome: string } };
}

describe('the output contract', () => {
  it('is committed as a JSON schema generated from the same types (npm run schema)', () => {
    const committed = JSON.parse(readFileSync('templates/berth.results.schema.json', 'utf8'));
    expect(committed).toEqual(JSON.parse(JSON.stringify(resultsJsonSchema())));
    const config = JSON.parse(readFileSync('templates/berth.schema.json', 'utf8'));
    expect(config).toEqual(JSON.parse(JSON.stringify(jsonSchema())));
  });

  it('has an envelope for every command, and refuses a result that is not the command`s', () => {
    const ok = {
      contract: CONTRACT_VERSION,
      command: 'heartbeat',
      outcome: 'success',
      result: { name: 'a', expiresAt: 'x' },
    };
    expect(envelopeSchema('heartbeat').parse(ok)).toEqual(ok);
    expect(() => envelopeSchema('heartbeat').parse({ ...ok, result: { name: 'a' } })).toThrow();
    expect(() => envelopeSchema('heartbeat').parse({ ...ok, result: { ...ok.result, extra: 1 } })).toThrow();
    expect(() => envelopeSchema('ls').parse({ ...ok, command: 'ls' })).toThrow();
  });

  it('names every command berth has: a result for each, or a reason it takes no --json', () => {
    const named = new Set(contractCommands());
    expect(commandNames(program()).filter((command) => !named.has(command))).toEqual([]);
    // The other names are modes of a command (up --tasks, ls --watch) or berth's own (help, version).
    const commands = new Set(commandNames(program()));
    const extra = contractCommands().filter((name) => !commands.has(name));
    expect(extra.filter((name) => !commands.has(name.replace(/ --.*/, '')))).toEqual(['version', 'help']);
  });

  it('publishes a success and an error variant of each result, an error of each command without --json, and one of no command', () => {
    const expected = [
      ...Object.keys(resultSchemas).flatMap((command) => [`${command} success`, `${command} error`]),
      ...Object.keys(commandsWithoutJson).map((command) => `${command} error`),
      '* error',
    ];
    expect(schemaVariants().sort()).toEqual(expected.sort());
  });

  it('refuses an object of no variant, as a consumer`s validator would', () => {
    const good = `{"contract":1,"command":"heartbeat","outcome":"success","result":{"name":"a","expiresAt":"x"}}`;
    expect(checkJsonOutput(['heartbeat', '--json'], good, 0)).toHaveLength(1);
    const bad = [
      good.replace('"name":"a",', ''),
      good.replace('"contract":1', '"contract":2'),
      good.replace('"heartbeat"', '"ls"'),
      // A known command's error may not pass for the error of a command berth does not have.
      `{"contract":1,"command":"mcp","outcome":"success","result":{}}`,
      '0.1.0',
    ];
    for (const text of bad) expect(() => checkJsonOutput(['x', '--json'], text, 0), text).toThrow();
  });
});

describe('every --json output the command line makes itself validates (Ajv, the published schema)', () => {
  it('--version and --help, in every form', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
    for (const args of [
      ['--version', '--json'],
      ['-v', '--json'],
      ['--json', '--version'],
    ]) {
      const { exitCode, envelope } = await printed(args);
      expect([exitCode, envelope]).toEqual([
        0,
        { contract: CONTRACT_VERSION, command: 'version', outcome: 'success', result: { version } },
      ]);
    }
    for (const [args, subject] of [
      [['--help', '--json'], ''],
      [['help', '--json'], ''],
      [['help', 'ls', '--json'], 'ls'],
      [['db', 'reset', '--help', '--json'], 'db reset'],
      [['up', '--tasks', 'x', '-h', '--json'], 'up --tasks'],
    ] as const) {
      const { exitCode, envelope } = await printed([...args]);
      expect(exitCode).toBe(0);
      expect(envelope).toMatchObject({ command: 'help', result: { for: subject } });
      expect((envelope.result as { text: string }).text).toMatch(/^Usage: berth/);
    }
  });

  it('a command berth does not have, a group without its command, and no command at all', async () => {
    for (const [args, command] of [
      [['frobnicate', '--json'], 'frobnicate'],
      [['host', 'frobnicate', '--json'], 'host frobnicate'],
      [['host', '--json'], 'host'],
      [['--json'], ''],
    ] as const) {
      const { exitCode, envelope } = await printed([...args]);
      expect(exitCode).toBe(2);
      expect(envelope).toMatchObject({ command, outcome: 'error', error: { code: 'usage' } });
    }
  });

  it('a usage error of every command, named as the contract names it', async () => {
    const names = commandNames(program());
    expect(names.length).toBeGreaterThan(30);
    for (const command of names) {
      const { exitCode, envelope } = await printed([...command.split(' '), '--no-such-option', '--json']);
      expect(exitCode, command).toBe(2);
      expect(envelope, command).toMatchObject({
        command,
        outcome: 'error',
        error: { code: 'usage', message: "unknown option '--no-such-option'" },
      });
    }
  });

  it('the commands without --json refuse it, with the error object', async () => {
    for (const command of Object.keys(commandsWithoutJson)) {
      const { exitCode, envelope } = await printed([...command.split(' '), 'x', '--json']);
      expect(exitCode, command).toBe(2);
      expect(envelope, command).toMatchObject({
        command,
        outcome: 'error',
        error: { message: "unknown option '--json'" },
      });
    }
  });
});
