import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { LABELS } from '../../src/plan/names.js';
import { shInAgent } from '../helpers/agent.js';
import { berth, errorOf, expectCleanStderr, resultOf } from '../helpers/cli.js';
import { imageFor } from '../helpers/images.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

/** A dollar sign: compose's own ${...} in a template string. */
const D = '$';

/** A made-up app: the agent's container is the compose service `app`, built from the repository. */
const COMPOSE = `
services:
  app:
    build: { context: .., dockerfile: .devcontainer/Dockerfile }
    container_name: notes-app
    command: sleep infinity
    volumes: ["..:/workspaces/notes:cached"]
    environment: { DB_HOST: mariadb, CACHE_HOST: memcached }
    ports: ["3000:3000"]
    depends_on: [mariadb, memcached]
  mariadb:
    image: mariadb:11
    restart: unless-stopped
    environment:
      MARIADB_DATABASE: notes
      MARIADB_USER: notes
      MARIADB_PASSWORD: notes
      MARIADB_ROOT_PASSWORD: root
    ports: ["3306:3306"]
    volumes: [db:/var/lib/mysql]
  memcached:
    image: memcached:1.6
    command: memcached -m 32
    ports: ["11211"]
volumes:
  db: {}
`;

const devcontainer = (
  runServices: string[],
) => `// The notes app's container (JSON with comments, trailing commas).
{
  "name": "notes",
  "dockerComposeFile": "docker-compose.yml",
  "service": "app",
  "runServices": ${JSON.stringify(runServices)},
  "containerEnv": { "APP_MODE": "dev", },
  "remoteEnv": { "REMOTE_ONE": "1", "PATH": "\${containerEnv:PATH}:/opt/tools", "TOOLS": "\${containerWorkspaceFolder}/tools" },
  "remoteUser": "node",
  /* Lifecycle commands become setup hooks, run in the agent's container, in its worktree. */
  "postCreateCommand": ["sh", "-c", "echo created > .created"],
  "postStartCommand": {
    "mark": "echo started > .started",
    "where": ["sh", "-c", "echo \\"$1\\" > \\"$2/.where\\"", "sh", "\${containerEnv:HOME}", "\${containerWorkspaceFolder}"],
  },
  "forwardPorts": [8000],
  "customizations": { "vscode": { "extensions": [] } },
}
`;

const QUIET =
  'agent:\n  resources: { cpus: 1, memory: 512m }\npostgres: { enabled: false }\nredis: { enabled: false }\n';

let repo: TestRepo;
/** On the images this file builds: afterAll removes them. */
const RUN_LABEL = `dev.berth.test.run=${randomUUID()}`;

beforeAll(async () => {
  const base = await imageFor('agent');
  repo = await makeRepo({
    files: {
      'berth.yaml': QUIET,
      '.devcontainer/devcontainer.json': devcontainer([]),
      '.devcontainer/docker-compose.yml': COMPOSE,
      // Unique to this run, so the image is built here and never one an earlier run left.
      '.devcontainer/Dockerfile': `FROM ${base}\nENV FROM_DOCKERFILE=yes\nLABEL ${RUN_LABEL}\n`,
    },
  });
});

afterAll(async () => {
  await repo?.cleanup();
  const built = await execa('docker', ['image', 'ls', '-q', '--filter', `label=${RUN_LABEL}`]);
  const ids = [...new Set(built.stdout.split('\n').filter(Boolean))];
  if (ids.length > 0) await execa('docker', ['image', 'rm', '-f', ...ids], { reject: false });
});

it("provisions the agent's container from devcontainer.json and the compose service it names", {
  timeout: 300_000,
}, async () => {
  const made = await berth(['provision', 'dev', '--repo', repo.root, '--json']);
  expect(made.exitCode, made.stderr).toBe(0);
  expect(expectCleanStderr(made.stderr)).toEqual([]);
  const agent = resultOf(made, 'provision').agent;
  // What was turned is said once, and the keys berth does not use are listed.
  const said = (text: string) => made.stderr.split('\n').filter((line) => line.includes(text));
  expect(said('services.app.container_name: dropped')).toHaveLength(1);
  expect(said("services.app.volumes: dropped (berth mounts the agent's worktree itself)")).toHaveLength(1);
  expect(said('customizations: not used')).toHaveLength(1);
  expect(said('remoteUser: not used')).toHaveLength(1);
  expect(
    said(`remoteEnv.PATH: ${D}{containerEnv:PATH} is not substituted in a variable's value`),
  ).toHaveLength(1);
  expect(said('building the agent image berth-build/agent:')).toHaveLength(1);

  // The image built from the repository's Dockerfile; containerEnv, remoteEnv and the compose service's environment.
  const env = await shInAgent(
    repo.root,
    'dev',
    'echo "$FROM_DOCKERFILE $APP_MODE $REMOTE_ONE $DB_HOST $CACHE_HOST $TOOLS"; id -u',
  );
  expect(env.exitCode, env.stderr).toBe(0);
  const [values, uid] = env.stdout.trim().split('\n');
  // ${containerWorkspaceFolder} is the worktree: berth mounts it at its own path.
  expect(values).toBe(`yes dev 1 mariadb memcached ${agent.worktree}/tools`);
  // remoteUser is not used: the agent runs as the worktree's owner.
  expect(uid).toBe(String(process.getuid?.()));
  // postCreateCommand and postStartCommand ran as setup hooks, in the agent's worktree.
  expect(readFileSync(join(agent.worktree, '.created'), 'utf8').trim()).toBe('created');
  expect(readFileSync(join(agent.worktree, '.started'), 'utf8').trim()).toBe('started');
  // ${containerEnv:HOME} is the container's HOME (berth's /tmp), never the host's.
  expect(readFileSync(join(agent.worktree, '.where'), 'utf8').trim()).toBe('/tmp');
  // forwardPorts and the service's own port are app ports, at leased host ports.
  expect(Object.keys(agent.ports).sort()).toEqual(['port_3000', 'port_8000']);
  expect(agent.ports.port_3000).not.toBe(3000);

  // The same inputs reuse the image: a second agent builds nothing.
  const again = await berth(['provision', 'dev-two', '--repo', repo.root]);
  expect(again.exitCode, again.stderr).toBe(0);
  expect(again.stderr).not.toContain('building the agent image');
  // The agent keeps the config it was made with: a devcontainer.json broken since blocks no teardown.
  const file = join(repo.root, '.devcontainer/devcontainer.json');
  const good = readFileSync(file, 'utf8');
  writeFileSync(file, '{ "image": "x", "features": { "ghcr.io/devcontainers/features/go:1": {} } }');
  try {
    const other = await berth(['provision', 'dev-three', '--repo', repo.root]);
    expect(other.exitCode).toBe(2);
    expect(other.stderr).toContain('features/go:1');
    for (const name of ['dev', 'dev-two']) {
      const gone = await berth(['teardown', name, '--force', '--repo', repo.root]);
      expect(gone.exitCode, gone.stderr).toBe(0);
    }
  } finally {
    writeFileSync(file, good);
  }
});

it('gc removes an agent image once no container uses it and the config no longer builds it', {
  timeout: 300_000,
}, async () => {
  const made = await berth(['provision', 'built', '--repo', repo.root, '--json']);
  expect(made.exitCode, made.stderr).toBe(0);
  const ps = await execa('docker', [
    'ps',
    '-a',
    '--filter',
    `label=${LABELS.agent}=built`,
    '--format',
    '{{.Image}}',
  ]);
  const image = ps.stdout.split('\n').find((ref) => ref.startsWith('berth-build/agent:')) as string;
  expect(image, ps.stdout).toBeDefined();
  const dockerfile = join(repo.root, '.devcontainer/Dockerfile');
  const first = readFileSync(dockerfile, 'utf8');
  const removed = async () => {
    const gc = await berth(['gc', '--repo', repo.root, '--json']);
    expect(gc.exitCode, gc.stderr).toBe(0);
    return resultOf(gc, 'gc')
      .actions.filter((action) => action.kind === 'image')
      .map((action) => action.target);
  };
  try {
    writeFileSync(dockerfile, `${first}ENV NEXT=1\n`);
    expect(await removed()).not.toContain(image); // a container uses it
    // Its stack taken down by hand: the agent's record still names the image it comes back with.
    const ids = ps.stdout
      ? await execa('docker', ['ps', '-aq', '--filter', `label=${LABELS.agent}=built`])
      : undefined;
    await execa('docker', ['rm', '-f', ...(ids?.stdout.split('\n').filter(Boolean) ?? [])]);
    expect(await removed()).not.toContain(image);
    writeFileSync(dockerfile, first);
    expect((await berth(['teardown', 'built', '--force', '--repo', repo.root])).exitCode).toBe(0);
    expect(await removed()).not.toContain(image); // the config builds it now
    writeFileSync(dockerfile, `${first}ENV NEXT=1\n`);
    expect(await removed()).toContain(image);
    expect((await execa('docker', ['image', 'inspect', image], { reject: false })).exitCode).not.toBe(0);
  } finally {
    writeFileSync(dockerfile, first);
  }
});

it('berth.yaml wins over devcontainer.json, and devcontainer: false leaves it out', {
  timeout: 300_000,
}, async () => {
  await repo.commitFile(
    'berth.yaml',
    `${QUIET.replace('agent:\n', 'agent:\n  env: { APP_MODE: berth }\n')}`,
    'berth.yaml wins',
  );
  const made = await berth(['provision', 'wins', '--repo', repo.root]);
  expect(made.exitCode, made.stderr).toBe(0);
  const env = await shInAgent(repo.root, 'wins', 'echo "$APP_MODE $REMOTE_ONE"');
  expect(env.stdout.trim()).toBe('berth 1');
  await repo.commitFile('berth.yaml', `${QUIET}devcontainer: false\n`, 'no devcontainer');
  const plain = await berth(['provision', 'plain', '--repo', repo.root]);
  expect(plain.exitCode, plain.stderr).toBe(0);
  expect(plain.stderr).not.toContain('devcontainer.json');
  const bare = await shInAgent(
    repo.root,
    'plain',
    'echo "[$APP_MODE]"; test -e .created && echo created || true',
  );
  expect(bare.stdout.trim()).toBe('[]');
  for (const name of ['wins', 'plain'])
    expect((await berth(['teardown', name, '--force', '--repo', repo.root])).exitCode).toBe(0);
  await repo.commitFile('berth.yaml', QUIET, 'back');
});

it("an agent's devcontainer.json decides nothing: not from its worktree, not from its branch", {
  timeout: 300_000,
}, async () => {
  const made = await berth(['provision', 'writer', '--repo', repo.root, '--json']);
  expect(made.exitCode, made.stderr).toBe(0);
  const worktree = resultOf(made, 'provision').agent.worktree;
  // What the agent writes: its own devcontainer.json, committed on its branch.
  writeFileSync(
    join(worktree, '.devcontainer/devcontainer.json'),
    devcontainer([]).replace('"APP_MODE": "dev"', '"APP_MODE": "planted"'),
  );
  await execa('git', ['add', '.devcontainer/devcontainer.json'], { cwd: worktree });
  await execa('git', ['-c', 'user.name=a', '-c', 'user.email=a@example.com', 'commit', '-qm', 'planted'], {
    cwd: worktree,
  });
  const nested = await berth(['provision', 'nested', '--json'], { cwd: worktree });
  expect(nested.exitCode, nested.stderr).toBe(0);
  const fromRef = await berth(['provision', 'from-ref', '--from', 'berth/writer', '--repo', repo.root]);
  expect(fromRef.exitCode, fromRef.stderr).toBe(0);
  for (const name of ['nested', 'from-ref']) {
    const env = await shInAgent(repo.root, name, 'echo "$APP_MODE"');
    expect(env.stdout.trim(), name).toBe('dev');
  }
  for (const name of ['nested', 'from-ref', 'writer'])
    expect((await berth(['teardown', name, '--force', '--repo', repo.root])).exitCode).toBe(0);
});

it('bad definitions give their one-line errors and create nothing', { timeout: 300_000 }, async () => {
  const cases: { files: Record<string, string>; line: string; args?: string[] }[] = [
    {
      files: {
        '.devcontainer/devcontainer.json':
          '{ "image": "x", "features": { "ghcr.io/devcontainers/features/go:1": {}, }, }',
      },
      line: 'features: "ghcr.io/devcontainers/features/go:1" comes from a feature registry, and no registry is reachable from berth',
    },
    {
      files: { '.devcontainer/devcontainer.json': '{ "image": "x" // no comma\n "remoteUser": "node" }' },
      line: '.devcontainer/devcontainer.json is not valid JSON with comments at line 2, column 2: CommaExpected',
    },
    {
      files: {
        '.devcontainer/docker-compose.yml': COMPOSE.replace(
          '    container_name: notes-app\n',
          '    privileged: true\n',
        ),
      },
      line: 'services.app.privileged: a privileged container can take over the host',
    },
    {
      files: {
        'berth.yaml': `${QUIET}devcontainer: false\nservices: { from: .devcontainer/docker-compose.yml, only: [mariadb, mailpit] }\n`,
      },
      line: 'only: .devcontainer/docker-compose.yml has no service "mailpit"',
    },
    {
      files: {
        'berth.yaml': `${QUIET}devcontainer: false\nservices: { from: .devcontainer/docker-compose.yml, only: [memcached] }\n`,
        '.devcontainer/docker-compose.yml': COMPOSE.replace(
          '    command: memcached -m 32\n',
          '    command: memcached -m 32\n    network_mode: host\n',
        ),
      },
      line: 'services.memcached.network_mode: host networking is not per agent',
    },
    {
      files: {},
      args: ['--devcontainer', '/etc/hostname'],
      line: 'devcontainer: /etc/hostname is outside the repository',
    },
  ];
  const original = Object.fromEntries(
    ['berth.yaml', '.devcontainer/devcontainer.json', '.devcontainer/docker-compose.yml'].map((file) => [
      file,
      readFileSync(join(repo.root, file), 'utf8'),
    ]),
  );
  for (const [index, bad] of cases.entries()) {
    const name = `bad-${index}`;
    for (const [file, text] of Object.entries({ ...original, ...bad.files }))
      writeFileSync(join(repo.root, file), text);
    const run = await berth(['provision', name, '--repo', repo.root, '--json', ...(bad.args ?? [])]);
    expect(run.exitCode, run.stderr).toBe(2);
    expect(errorOf(run, 'provision').message).toContain(bad.line);
    // Nothing was made: no record, no worktree, no branch, no container.
    const listed = await berth(['ls', '--repo', repo.root, '--json']);
    expect(listed.stdout).not.toContain(`"${name}"`);
    expect(existsSync(join(repo.root, '..', 'project.worktrees', name))).toBe(false);
    expect(await repo.git('branch', '--list', `berth/${name}`)).toBe('');
    const containers = await execa('docker', [
      'ps',
      '-aq',
      '--filter',
      `label=dev.berth.agent=${name}`,
      '--filter',
      `label=dev.berth.repo`,
    ]);
    expect(containers.stdout).toBe('');
  }
  for (const [file, text] of Object.entries(original)) writeFileSync(join(repo.root, file), text);
});

/** The services part waits for the service model (`services:` in berth.yaml's schema). */
const hasServices = 'services' in configSchema.shape;

it.skipIf(!hasServices)(
  'runs the services runServices names, each the agent reaches by its name',
  {
    timeout: 300_000,
  },
  async () => {
    writeFileSync(join(repo.root, '.devcontainer/devcontainer.json'), devcontainer(['mariadb', 'memcached']));
    try {
      const made = await berth(['provision', 'stack', '--repo', repo.root, '--json']);
      expect(made.exitCode, made.stderr).toBe(0);
      const agent = resultOf(made, 'provision').agent;
      expect(agent.ports).toHaveProperty('mariadb');
      expect(agent.ports).toHaveProperty('memcached');
      const reach = await shInAgent(
        repo.root,
        'stack',
        "echo \"$MARIADB_HOST:$MARIADB_PORT $MEMCACHED_HOST:$MEMCACHED_PORT\"; node -e \"const s=require('net').connect(3306,'mariadb',()=>{console.log('mariadb answers');s.end()})\"",
      );
      expect(reach.stdout).toContain('mariadb:3306 memcached:11211');
      expect(reach.stdout).toContain('mariadb answers');
      expect((await berth(['teardown', 'stack', '--force', '--repo', repo.root])).exitCode).toBe(0);

      // berth.yaml's own import of the same file: only the services named.
      await repo.commitFile(
        'berth.yaml',
        `${QUIET}devcontainer: false\nservices: { from: .devcontainer/docker-compose.yml, only: [memcached] }\n`,
        'services from the compose file',
      );
      const imported = await berth(['provision', 'imported', '--repo', repo.root, '--json']);
      expect(imported.exitCode, imported.stderr).toBe(0);
      const ports = Object.keys(resultOf(imported, 'provision').agent.ports);
      expect(ports).toContain('memcached');
      expect(ports).not.toContain('mariadb');
      const cache = await shInAgent(
        repo.root,
        'imported',
        'echo "$MEMCACHED_HOST:$MEMCACHED_PORT [$MARIADB_HOST]"',
      );
      expect(cache.stdout.trim()).toBe('memcached:11211 []');
      expect((await berth(['teardown', 'imported', '--force', '--repo', repo.root])).exitCode).toBe(0);
    } finally {
      writeFileSync(join(repo.root, '.devcontainer/devcontainer.json'), devcontainer([]));
      await repo.commitFile('berth.yaml', QUIET, 'back');
    }
  },
);
