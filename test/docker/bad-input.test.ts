import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoId } from '../../src/plan/names.js';
import { BIN, berth, resultOf } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { unleasedRange } from '../helpers/ports.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

let repo: TestRepo;
let scratch: string;

beforeAll(async () => {
  repo = await makeRepo();
  scratch = mkdtempSync(join(tmpdir(), 'berth-bad-'));
});
afterAll(async () => {
  await repo?.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

/**
 * What berth could have made or lost for the repository: the same before and after a refused command.
 * Only this repository's resources count: the host may run others' agents meanwhile.
 */
async function snapshot(root: string) {
  const mine = {
    label: ['dev.berth.managed=true', `dev.berth.repo=${repoId(realpathSync(join(root, '.git')))}`],
  };
  const [branches, worktrees, head, containers, networks, volumes] = await Promise.all([
    execa('git', ['branch', '--list'], { cwd: root }).then((r) => r.stdout),
    execa('git', ['worktree', 'list', '--porcelain'], { cwd: root }).then((r) => r.stdout),
    execa('git', ['rev-parse', 'HEAD'], { cwd: root }).then((r) => r.stdout),
    docker()
      .listContainers({ all: true, filters: mine })
      .then((c) => c.length),
    docker()
      .listNetworks({ filters: mine })
      .then((n) => n.length),
    docker()
      .listVolumes({ filters: mine })
      .then((v) => v.Volumes?.length ?? 0),
  ]);
  return { branches, worktrees, head, containers, networks, volumes };
}

function config(name: string, text: string): string {
  const path = join(scratch, `${name}.yaml`);
  writeFileSync(path, text);
  return path;
}

interface Case {
  what: string;
  args: () => string[];
  error: RegExp;
  exit?: number;
}

const NAME_HINT = /invalid agent name .*hint: use lowercase letters/;
const cases: Case[] = [
  // agent names
  { what: 'an empty name', args: () => ['provision', ''], error: NAME_HINT },
  { what: 'a name of 33 characters', args: () => ['provision', `a${'b'.repeat(32)}`], error: NAME_HINT },
  { what: 'an upper-case name', args: () => ['provision', 'Agent'], error: NAME_HINT },
  { what: 'a name with ../', args: () => ['provision', '../x'], error: NAME_HINT },
  { what: 'a name with a slash', args: () => ['provision', 'a/b'], error: NAME_HINT },
  { what: 'a name with a shell command', args: () => ['provision', 'a;rm -rf ~'], error: NAME_HINT },
  { what: 'a name with a substitution', args: () => ['provision', '$(id)'], error: NAME_HINT },
  {
    what: 'a name with a leading hyphen',
    args: () => ['provision', '--repo', repo.root, '--', '-lead'],
    error: NAME_HINT,
  },
  { what: 'a unicode name', args: () => ['provision', 'café'], error: NAME_HINT },
  { what: 'a name with whitespace', args: () => ['provision', 'a b'], error: NAME_HINT },
  { what: 'a bad name to teardown', args: () => ['teardown', '../../etc'], error: NAME_HINT },
  { what: 'a bad name to exec', args: () => ['exec', 'A', '--', 'true'], error: NAME_HINT },
  // refs and branches
  {
    what: 'a start ref that does not exist',
    args: () => ['provision', 'r1', '--from', 'nope'],
    error: /"nope" does not name a commit/,
  },
  {
    what: 'a start ref that is an option',
    args: () => ['provision', 'r2', '--from=--upload-pack=touch /tmp/x'],
    error: /"--upload-pack=touch \/tmp\/x" does not name a commit/,
  },
  {
    what: 'a branch name git refuses',
    args: () => ['provision', 'r3', '--branch', 'bad..name'],
    error: /"bad\.\.name" is not a valid branch name/,
  },
  {
    what: 'a branch that is an option',
    args: () => ['provision', 'r4', '--branch=--force'],
    error: /"--force" is not a valid branch name/,
  },
  {
    what: 'a branch checked out elsewhere',
    args: () => ['provision', 'r5', '--branch', 'main'],
    error: /branch main is checked out at/,
  },
  // repositories
  {
    what: 'a folder that is not a git repository',
    args: () => ['provision', 'p1', '--repo', scratch],
    error: /is not inside a git repository/,
  },
  // config
  {
    what: 'a config with wrong types',
    args: () => [
      'provision',
      'c1',
      '--config',
      config('types', 'healthTimeout: soon\nredis: { enabled: 1 }\n'),
    ],
    error:
      /has 2 bad field\(s\)(?=[\s\S]*healthTimeout: Invalid input)(?=[\s\S]*redis\.enabled: Invalid input)/,
  },
  {
    what: 'a config with unknown keys',
    args: () => ['provision', 'c2', '--config', config('unknown', 'agent: { imagee: x }\n')],
    error: /agent\.imagee: unknown field/,
  },
  {
    what: 'negative limits',
    args: () => [
      'provision',
      'c3',
      '--config',
      config('negative', 'agent: { resources: { cpus: -2, pids: -1 } }\n'),
    ],
    error: /agent\.resources\.cpus:[\s\S]*agent\.resources\.pids:/,
  },
  {
    what: 'huge limits',
    args: () => [
      'provision',
      'c4',
      '--config',
      config('huge', 'agent: { resources: { cpus: 99999, memory: 5000000000000g } }\n'),
    ],
    error: /agent\.resources\.cpus: Too big/,
  },
  {
    what: 'an empty port range',
    args: () => ['provision', 'c5', '--config', config('range', 'ports: { range: "20010-20000" }\n')],
    error: /ports\.range: expected 1024 <= LOW <= HIGH <= 65535/,
  },
  {
    what: 'YAML that does not parse',
    args: () => ['provision', 'c6', '--config', config('yaml', 'agent: {\n')],
    error: /is not valid YAML at line/,
  },
  {
    what: 'a config file that does not exist',
    args: () => ['provision', 'c7', '--config', join(scratch, 'none.yaml')],
    error: /config file .* does not exist/,
  },
  // the engine
  {
    what: 'an engine that is not there',
    args: () => ['provision', 'e1'],
    error: /no Docker engine socket at unix:\/\/\/nonexistent\.sock/,
    exit: 3,
  },
];

describe('bad input: a clear error, a non-zero exit, and nothing created or lost', () => {
  it('refuses a tasks file whose aliases expand without bound, or that holds more tasks than run at once', async () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++)
      levels.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(', ')}]`,
      );
    const bomb = config('tasks-bomb', `${levels.join('\n')}\ntasks: *i\n`);
    const many = config(
      'tasks-many',
      `tasks:\n${Array.from({ length: 501 }, (_, i) => `  - { name: t${i}, command: "true" }`).join('\n')}\n`,
    );
    const before = await snapshot(repo.root);
    for (const [file, error] of [
      [bomb, /uses YAML aliases that expand without bound/],
      [many, /holds 501 tasks; at most 500 run at once/],
    ] as const) {
      const result = await berth(['up', '--tasks', file, '--repo', repo.root]);
      expect(result.exitCode, result.stderr).toBe(2);
      expect(result.stderr.trim().split('\n')[0]).toMatch(error);
      expect(result.stderr).not.toMatch(/bug in berth/);
    }
    expect(await snapshot(repo.root)).toEqual(before);
  });

  it('ends quietly when its reader stops reading (berth ls | head), with no stack trace', async () => {
    const result = await execa(
      'bash',
      [
        '-c',
        // A reader that closes its end at once; bash's PIPESTATUS holds berth's exit code.
        ['node "$0" config schema --json 2>"$1" | (exec 0<&-; sleep 1); echo "$', '{PIPESTATUS[0]}"'].join(
          '',
        ),
        BIN,
        join(scratch, 'epipe.err'),
      ],
      { reject: false },
    );
    expect(result.stdout.trim()).toBe('0');
    expect(readFileSync(join(scratch, 'epipe.err'), 'utf8')).toBe('');
  });

  for (const { what, args, error, exit } of cases) {
    it(`refuses ${what}`, async () => {
      const before = await snapshot(repo.root);
      const env = what.includes('engine') ? { DOCKER_HOST: 'unix:///nonexistent.sock' } : undefined;
      const argv = args();
      const withRepo = argv.includes('--repo') ? argv : [...argv, '--repo', repo.root];
      const result = await berth(withRepo, { env });
      expect(result.exitCode, result.stderr).toBe(exit ?? 2);
      expect(result.stderr).toMatch(error);
      expect(result.stderr.split('\n')[0]).toMatch(/^berth: error: /);
      expect(result.stdout).toBe('');
      expect(await snapshot(repo.root)).toEqual(before);
    });
  }

  it('refuses a bare repository and a repository with no commits', async () => {
    const bare = join(scratch, 'bare.git');
    await execa('git', ['init', '-q', '--bare', bare]);
    const bareResult = await berth(['provision', 'b1', '--repo', bare]);
    expect(bareResult.exitCode).toBe(2);
    expect(bareResult.stderr).toMatch(
      /is a bare repository .*hint: berth needs a repository with a working tree/,
    );

    const empty = join(scratch, 'empty');
    mkdirSync(empty);
    await execa('git', ['init', '-q', empty]);
    const emptyResult = await berth(['provision', 'b2', '--repo', empty]);
    expect(emptyResult.exitCode).toBe(2);
    expect(emptyResult.stderr).toMatch(/has no commits yet .*hint: make a first commit/);
    expect((await execa('git', ['worktree', 'list'], { cwd: empty })).stdout.split('\n')).toHaveLength(1);
  });

  it('works on a detached HEAD: the branch starts at that commit', async () => {
    const head = await repo.git('rev-parse', 'HEAD');
    await repo.git('checkout', '-q', '--detach');
    try {
      const result = await berth(['provision', 'detached', '--repo', repo.root, '--json']);
      expect(result.exitCode, result.stderr).toBe(0);
      expect(await repo.git('rev-parse', 'berth/detached')).toBe(head);
      const down = await berth(['teardown', 'detached', '--repo', repo.root, '--json']);
      expect(resultOf(down, 'teardown').branchOutcome).toBe('deleted-empty');
    } finally {
      await repo.git('checkout', '-q', 'main');
    }
    expect(await repo.git('rev-parse', 'HEAD')).toBe(head);
  });

  it('says which range is exhausted when no port is free, and creates nothing', async () => {
    const range = await unleasedRange(11, 29_900);
    const [low, high] = range.split('-').map(Number) as [number, number];
    const servers: Server[] = [];
    for (let port = low; port <= high; port++) {
      const server = createServer();
      await new Promise<void>((resolve, reject) =>
        server.once('error', reject).listen(port, '127.0.0.1', () => resolve()),
      );
      servers.push(server);
    }
    try {
      const before = await snapshot(repo.root);
      const path = config('exhausted', `ports: { range: "${range}" }\n`);
      const result = await berth(['provision', 'full', '--repo', repo.root, '--config', path]);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(new RegExp(`no free port in ${range} .*hint: tear down agents`));
      expect(await snapshot(repo.root)).toEqual(before);
    } finally {
      for (const server of servers) server.close();
    }
  });
});
