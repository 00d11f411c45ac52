import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_NAME } from '../../src/package-root.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

/*
 * The package as npm installs it: `npm pack` of this clone (built by the suite's setup), then
 * `npm install -g` into an empty prefix and `npm install` into an empty project, in folders with no
 * node_modules above them. The bundle must hold every dependency: anything it still asked for at run
 * time would be missing there.
 */

const root = new URL('../../', import.meta.url).pathname;
let scratch: string;
let tarball: string;
/** The paths in the tarball, as npm pack lists them. */
let packedFiles: string[];
let prefix: string;
let repo: TestRepo;

const npm = (args: string[], cwd: string) =>
  execa('npm', [...args, '--no-audit', '--no-fund', '--offline'], { cwd, reject: false });

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'berth-package-'));
  // The suite's setup built dist/: pack it as it is (packing runs the build again otherwise).
  const packed = await execa('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], {
    cwd: root,
  });
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(scratch, info?.filename ?? '');
  packedFiles = info?.files.map((file) => file.path) ?? [];
  prefix = join(scratch, 'prefix');
  const installed = await npm(['install', '-g', '--prefix', prefix, tarball], scratch);
  expect(installed.exitCode, installed.stderr).toBe(0);
  repo = await makeRepo();
});

afterAll(async () => {
  await repo?.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

/** The installed CLI, run with a PATH that holds node and the system's programs, nothing of this clone. */
const installedBerth = (args: string[]) =>
  execa(join(prefix, 'bin', 'berth'), args, {
    cwd: scratch,
    env: {
      PATH: `${join(prefix, 'bin')}:/usr/local/bin:/usr/bin:/bin`,
      HOME: scratch,
      BERTH_LABELS: process.env.BERTH_LABELS ?? '',
    },
    extendEnv: false,
    reject: false,
  });

describe('npm install -g of the tarball', () => {
  it('installs one package, under the scoped name, with the command berth', async () => {
    const listed = await execa('npm', ['ls', '-g', '--prefix', prefix, '--all', '--parseable'], {
      reject: false,
    });
    const packages = listed.stdout.split('\n').filter((line) => line.includes('node_modules'));
    expect(packages).toEqual([join(prefix, 'lib', 'node_modules', PACKAGE_NAME)]);
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(manifest.name).toBe(PACKAGE_NAME);
    expect(manifest.dependencies ?? {}).toEqual({});
    expect(Object.keys(manifest.bin)).toEqual(['berth']);
    const version = await installedBerth(['--version']);
    expect(version.stdout).toBe(manifest.version);
  });

  it('ships its licence, and the licences of the third-party code the bundle contains', () => {
    expect(packedFiles).toContain('LICENSE');
    expect(packedFiles).toContain('dist/THIRD-PARTY-LICENSES.txt');
    const installed = join(prefix, 'lib', 'node_modules', PACKAGE_NAME);
    expect(readFileSync(join(installed, 'LICENSE'), 'utf8')).toMatch(
      /^MIT License\n\nCopyright \(c\) \d{4} berth contributors/,
    );
    const notices = readFileSync(join(installed, 'dist', 'THIRD-PARTY-LICENSES.txt'), 'utf8');
    // dockerode and docker-modem are Apache-2.0: their licence text goes with the code.
    expect(notices).toMatch(/^dockerode@\d+\.\d+\.\d+\nLicense: Apache-2\.0\n--- LICENSE\n\nApache License/m);
    expect(notices).toMatch(/^docker-modem@\S+\nLicense: Apache-2\.0\n/m);
    expect(notices).toMatch(/^zod@\S+\nLicense: MIT\n/m);
    expect(packedFiles.filter((path) => path.endsWith('.meta.json'))).toEqual([]);
  });

  it('loads every chunk of the bundle, and the library entry, with nothing else installed', async () => {
    const dist = join(prefix, 'lib', 'node_modules', PACKAGE_NAME, 'dist');
    const modules = [
      join(dist, 'index.mjs'),
      ...readdirSync(join(dist, 'chunks')).map((file) => join(dist, 'chunks', file)),
    ];
    const script = `for (const file of ${JSON.stringify(modules)}) await import(file);`;
    const loaded = await execa(process.execPath, ['--input-type=module', '-e', script], {
      cwd: scratch,
      reject: false,
    });
    expect(loaded.exitCode, loaded.stderr).toBe(0);
  });

  it('provisions, lists and tears down an agent', async () => {
    const env = ['--repo', repo.root];
    const made = await installedBerth(['provision', 'packaged', ...env, '--json']);
    expect(made.exitCode, made.stderr).toBe(0);
    const listed = JSON.parse((await installedBerth(['ls', ...env, '--json'])).stdout);
    expect(listed.result.agents.map((entry: { name: string }) => entry.name)).toEqual(['packaged']);
    const gone = await installedBerth(['teardown', 'packaged', ...env]);
    expect(gone.exitCode, gone.stderr).toBe(0);
  });
});

describe('the library, installed into a project', () => {
  it('is imported by its package name, and its declarations type-check a consumer', async () => {
    const project = join(scratch, 'consumer');
    mkdirSync(project);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', type: 'module', private: true }),
    );
    const installed = await npm(['install', tarball], project);
    expect(installed.exitCode, installed.stderr).toBe(0);
    const imported = await execa(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { provision, listAgents, gc, teardown } from '${PACKAGE_NAME}';
         console.log([provision, listAgents, gc, teardown].map((f) => typeof f).join(' '));`,
      ],
      { cwd: project },
    );
    expect(imported.stdout).toBe('function function function function');
    writeFileSync(
      join(project, 'use.ts'),
      `import { type AgentView, listAgents } from '${PACKAGE_NAME}';
const names = async (repo: string): Promise<string[]> =>
  (await listAgents({ repo })).flatMap((entry) => (entry.agent ? [entry.agent.name] : []));
const view: AgentView | undefined = undefined;
export { names, view };
`,
    );
    const tsc = await execa(
      join(root, 'node_modules', '.bin', 'tsc'),
      [
        '--noEmit',
        '--strict',
        '--skipLibCheck',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--types',
        'node',
        '--typeRoots',
        join(root, 'node_modules', '@types'),
        'use.ts',
      ],
      { cwd: project, reject: false },
    );
    expect(tsc.exitCode, tsc.stdout).toBe(0);
  });
});
