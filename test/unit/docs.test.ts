import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { isPair, parseDocument, parse as parseYaml, visit } from 'yaml';
import { buildProgram } from '../../src/cli/main.js';
import { parseConfig } from '../../src/config/load.js';
import { jsonSchema } from '../../src/config/schema.js';

const readme = readFileSync('README.md', 'utf8');

function section(title: string): string {
  const start = readme.indexOf(`## ${title}`);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end === -1 ? undefined : end);
}

/** Every runnable command, with its parents: "host init", "provision", "config schema". */
function commands(command: Command, prefix = ''): string[] {
  return command.commands.flatMap((sub) => {
    const name = `${prefix}${sub.name()}`;
    return sub.commands.length > 0 ? commands(sub, `${name} `) : [name];
  });
}

type JsonSchema = { description?: string; properties?: Record<string, JsonSchema> };

/** Every field of the config schema by its path ("agent.resources.cpus"), with its schema. */
function fields(schema: JsonSchema, prefix = ''): Array<[string, JsonSchema]> {
  return Object.entries(schema.properties ?? {}).flatMap(([key, child]) => [
    [`${prefix}${key}`, child] as [string, JsonSchema],
    ...fields(child, `${prefix}${key}.`),
  ]);
}

function hasPath(value: unknown, path: string): boolean {
  let here = value as Record<string, unknown> | undefined;
  for (const key of path.split('.')) {
    if (!here || typeof here !== 'object' || !(key in here)) return false;
    here = here[key] as Record<string, unknown>;
  }
  return true;
}

describe('the README', () => {
  it('has a row in the command table for every command', () => {
    const table = section('Commands');
    const program = buildProgram({
      io: { stdout: () => {}, stderr: () => {}, write: async () => {} },
      setExitCode: () => {},
    });
    const missing = commands(program).filter((name) => !table.includes(`| \`berth ${name}`));
    expect(missing).toEqual([]);
  });

  it('shows every config field in its berth.yaml example, which is itself valid', () => {
    const config = section('Config');
    const example = /```yaml\n([\s\S]*?)```/.exec(config)?.[1] ?? '';
    expect(() => parseConfig(example, 'the README example')).not.toThrow();
    const document = parseYaml(example);
    const missing = fields(jsonSchema() as JsonSchema)
      .map(([path]) => path)
      .filter((path) => !hasPath(document, path));
    expect(missing).toEqual([]);
  });

  it('shows the defaults in its berth.yaml block, but on the lines marked `# example`', () => {
    const config = section('Config');
    const example = /```yaml\n([\s\S]*?)```/.exec(config)?.[1] ?? '';
    // The block without its example lines (and what is under them) reads as the defaults do.
    const document = parseDocument(example);
    const lineOf = (offset: number) =>
      example.slice(example.lastIndexOf('\n', offset) + 1, example.indexOf('\n', offset));
    visit(document, {
      Pair(_, pair) {
        const at = isPair(pair) && (pair.key as { range?: [number] } | null)?.range?.[0];
        if (typeof at === 'number' && /#\s*example\b/.test(lineOf(at))) return visit.REMOVE;
      },
    });
    const defaults = parseConfig(String(document), 'the README block without its examples');
    expect(defaults).toEqual(parseConfig('', 'an empty berth.yaml'));
    // And an example is not the default (else it would not need the mark).
    expect(parseConfig(example, 'the README block')).not.toEqual(defaults);
  });

  it('has a description for every config field, in the schema editors read', () => {
    const undocumented = fields(jsonSchema() as JsonSchema)
      .filter(([, schema]) => !schema.description)
      .map(([path]) => path);
    expect(undocumented).toEqual([]);
  });
});

describe('the README`s architecture', () => {
  const architecture = section('Architecture');

  it('names every adapter in src/adapters/, and every layer and file at the top of src/', () => {
    const adapters = readdirSync('src/adapters').filter((file) => file.endsWith('.ts'));
    expect(adapters.filter((file) => !architecture.includes(`\`${file}\``))).toEqual([]);
    const top = readdirSync('src', { withFileTypes: true })
      .filter((entry) => entry.isDirectory() || entry.name.endsWith('.ts'))
      .map((entry) => (entry.isDirectory() ? `${entry.name}/` : entry.name));
    expect(top.filter((name) => !architecture.includes(`\`${name}\``))).toEqual([]);
  });

  it('names, in its checklist for a new command, the places the tests make a command be named', () => {
    const checklist = architecture.slice(architecture.indexOf('A new command'));
    for (const place of ['index.ts', 'contract.ts', 'resultSchemas', 'commandsWithoutJson', 'cli/main.ts'])
      expect(checklist).toContain(`\`${place}\``);
    expect(checklist).toContain('npm run schema');
    expect(checklist).toContain('command table');
  });
});

describe('advice to run berth', () => {
  it('never says `npx berth`: that name on npm is another package; berth is @berth-dev/berth', () => {
    const files = execFileSync('git', ['ls-files', 'README.md', 'examples', 'src', 'templates', 'bench'], {
      encoding: 'utf8',
    })
      .split('\n')
      .filter((file) => file && !/\.(png|jpg)$/.test(file));
    const advising = files.filter((file) =>
      /npx\s+(--yes\s+|-y\s+)?berth\b/.test(readFileSync(file, 'utf8')),
    );
    expect(advising).toEqual([]);
  });
});
