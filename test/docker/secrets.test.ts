import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shInAgent } from '../helpers/agent.js';
import { BIN, berth, cli, errorOf, resultOf } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { processGone } from '../helpers/processes.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

/** Values that are nowhere else: a search for one finds only what leaked. */
const value = (what: string) => `${what}-${randomBytes(12).toString('hex')}`;
const FROM_ENV = value('env-secret');
const ROTATED = value('env-rotated');
const FROM_FILE = value('file-secret');
const FROM_COMMAND = value('command-secret');
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const NAME = 'sec-a';
let repo: TestRepo;
let scratch: string;
const outputs: string[] = [];

/** Every file under a folder, but the repository's own objects. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (entry === 'objects') return [];
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

const config = (secrets: string) => `secrets:
${secrets}
hooks:
  setup:
    # What the hooks saw, as hashes (outside the worktree, which stays clean for sync); and what a
    # careless hook prints (its log must not have it).
    - printf %s "$FROM_ENV" | sha256sum | cut -c1-64 > /tmp/hook-env.sha
    - printf %s "$FROM_COMMAND" | sha256sum | cut -c1-64 > /tmp/hook-command.sha
    - cat /run/secrets/FROM_COMMAND | sha256sum | cut -c1-64 > /tmp/hook-command-file.sha
    - echo "setup has $FROM_ENV and $FROM_COMMAND"; cat /run/secrets/FROM_FILE
    # A hooks-only value a hook leaves where the agent reads it (a token in .npmrc, say).
    - printf %s "$FROM_COMMAND" > /tmp/hook-left.txt
`;
const SECRETS = (file: string) => `  FROM_ENV: { from: "env:BERTH_TEST_SECRET", env: true }
  FROM_FILE: { from: "file:${file}" }
  FROM_COMMAND: { from: "command:cat ${file}-command", to: [hooks], env: true }`;

/** Runs berth with the env secret in its environment, keeping its output for the final search. */
async function berthWith(args: string[], secret = FROM_ENV) {
  const [command, ...rest] = args;
  const run = await berth([command ?? '', '--repo', repo.root, ...rest], {
    env: { BERTH_TEST_SECRET: secret },
  });
  outputs.push(run.stdout, run.stderr);
  return run;
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'berth-secrets-'));
  writeFileSync(join(scratch, 'token'), `${FROM_FILE}\n`);
  writeFileSync(join(scratch, 'token-command'), `${FROM_COMMAND}\n`);
  repo = await makeRepo({ files: { 'berth.yaml': config(SECRETS(join(scratch, 'token'))) } });
  const run = await berthWith(['provision', NAME, '--json']);
  expect(run.exitCode, run.stderr).toBe(0);
});

afterAll(async () => {
  await repo?.cleanup();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

async function agentContainer() {
  const [container] = await docker().listContainers({
    filters: { label: [`dev.berth.agent=${NAME}`, 'com.docker.compose.service=agent'] },
  });
  return container?.Id ?? '';
}

describe('secrets by reference', () => {
  it('gives the agent its secrets as files in a tmpfs at /run/secrets, 0400, its user`s', async () => {
    const uid = statSync(repo.root).uid;
    const run = await shInAgent(
      repo.root,
      NAME,
      'grep " /run/secrets " /proc/mounts | cut -d" " -f3; cd /run/secrets; for f in *; do stat -c "%n %a %u" "$f"; done; cat FROM_ENV; echo; cat FROM_FILE',
    );
    expect(run.stdout.split('\n')).toEqual([
      'tmpfs',
      `FROM_ENV 400 ${uid}`,
      `FROM_FILE 400 ${uid}`,
      FROM_ENV,
      // The file's trailing newline is not part of the value.
      FROM_FILE,
    ]);
  });

  it('keeps a hooks-only secret out of the agent, and gave it to the setup hooks (file and variable)', async () => {
    const seen = await shInAgent(
      repo.root,
      NAME,
      'cat /tmp/hook-command.sha /tmp/hook-command-file.sha /tmp/hook-env.sha',
    );
    expect(seen.stdout.split('\n')).toEqual([sha256(FROM_COMMAND), sha256(FROM_COMMAND), sha256(FROM_ENV)]);
    const run = await shInAgent(repo.root, NAME, 'ls /run/secrets; echo "[$FROM_COMMAND]"');
    expect(run.stdout.split('\n')).toEqual(['FROM_ENV', 'FROM_FILE', '[]']);
  });

  it('is a variable only where asked, in every command berth runs in the agent', async () => {
    const run = await shInAgent(
      repo.root,
      NAME,
      'printenv FROM_ENV; printenv FROM_FILE || echo no-file-variable',
    );
    expect(run.stdout.split('\n')).toEqual([FROM_ENV, 'no-file-variable']);
  });

  it('writes *** for a value in a hook`s log and in a captured exec`s output and log, and over MCP', async () => {
    const setupLog = readFileSync(
      join(repo.root, '.git', 'berth', 'agents', NAME, 'logs', 'setup.log'),
      'utf8',
    );
    expect(setupLog).toContain('setup has *** and ***');
    const exec = resultOf(
      await berthWith([
        'exec',
        NAME,
        '--json',
        '--',
        'sh',
        '-c',
        'echo "env $FROM_ENV"; cat /run/secrets/FROM_FILE',
      ]),
      'exec',
    );
    expect(exec.output).toBe('env ***\n***');
    // The streams apart are masked as the whole is (they were raw before).
    expect(exec.stdout).toBe('env ***\n***');
    const apart = resultOf(
      await berthWith(['exec', NAME, '--json', '--', 'sh', '-c', 'cat /run/secrets/FROM_FILE >&2']),
      'exec',
    );
    expect(apart.stderr).toBe('***');
    expect(readFileSync(exec.logFile ?? '', 'utf8')).toBe('env ***\n***');
    // A hooks-only value the container no longer holds, left by a hook: masked too.
    const left = resultOf(
      await berthWith(['exec', NAME, '--json', '--', 'cat', '/tmp/hook-left.txt']),
      'exec',
    );
    expect(left.output).toBe('***');
    const task = resultOf(
      await berthWith(['run', NAME, '--json', '--', 'sh', '-c', 'echo "task $FROM_ENV"']),
      'run',
    );
    expect(readFileSync(task.task?.logFile ?? '', 'utf8')).toBe('task ***\n');

    const client = new Client({ name: 'berth-secrets-test', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [BIN, 'mcp', '--repo', repo.root],
        env: { ...(process.env as Record<string, string>) },
        stderr: 'pipe',
      }),
    );
    try {
      for (const [tool, args] of [
        ['exec', { name: NAME, command: ['sh', '-c', 'echo "$FROM_ENV"'] }],
        ['logs', { name: NAME, hook: 'setup' }],
        ['show', { name: NAME }],
        ['list', {}],
      ] as const) {
        const answer = (await client.callTool({ name: tool, arguments: args })) as {
          content: Array<{ text?: string }>;
        };
        const text = answer.content.map((part) => part.text ?? '').join('');
        outputs.push(text);
        if (tool === 'exec') expect(text).toContain('***');
      }
    } finally {
      await client.close();
    }
  });

  it('gives the current values again on sync, and takes away the ones no longer configured', async () => {
    writeFileSync(
      join(repo.root, 'berth.yaml'),
      config(`  FROM_ENV: { from: "env:BERTH_TEST_SECRET", env: true }
  FROM_COMMAND: { from: "command:cat ${join(scratch, 'token-command')}", to: [hooks], env: true }
  FROM_FILE_AS_HOOKS: { from: "file:${join(scratch, 'token')}", to: [hooks] }`).replace(
        'cat /run/secrets/FROM_FILE',
        'cat /run/secrets/FROM_FILE_AS_HOOKS',
      ),
    );
    const sync = resultOf(await berthWith(['sync', NAME, '--json'], ROTATED), 'sync');
    expect(sync.secrets).toEqual(['FROM_ENV', 'FROM_COMMAND', 'FROM_FILE_AS_HOOKS']);
    const run = await shInAgent(repo.root, NAME, 'ls /run/secrets; cat /run/secrets/FROM_ENV');
    expect(run.stdout.split('\n')).toEqual(['FROM_ENV', ROTATED]);
    const seen = await shInAgent(repo.root, NAME, 'cat /tmp/hook-env.sha');
    expect(seen.stdout).toBe(sha256(ROTATED));
  });

  it('takes no secret away on a sync that fails', async () => {
    const before = readFileSync(join(repo.root, 'berth.yaml'), 'utf8');
    // FROM_ENV no longer configured, and a setup hook that fails: the sync fails, FROM_ENV stays.
    writeFileSync(
      join(repo.root, 'berth.yaml'),
      `secrets:\n  FROM_FILE_AS_HOOKS: { from: "file:${join(scratch, 'token')}", to: [hooks] }\nhooks:\n  setup: ["exit 7"]\n`,
    );
    try {
      const sync = await berthWith(['sync', NAME, '--json'], ROTATED);
      expect(sync.exitCode).not.toBe(0);
      expect(errorOf(sync, 'sync').code).toBe('hook-failed');
      const run = await shInAgent(repo.root, NAME, 'ls /run/secrets; cat /run/secrets/FROM_ENV');
      expect(run.stdout.split('\n')).toEqual(['FROM_ENV', ROTATED]);
      const state = JSON.parse(readFileSync(join(repo.root, '.git', 'berth', 'state.json'), 'utf8'));
      expect(state.agents[NAME].secrets.map((grant: { name: string }) => grant.name)).toEqual([
        'FROM_ENV',
        'FROM_COMMAND',
        'FROM_FILE_AS_HOOKS',
      ]);
    } finally {
      writeFileSync(join(repo.root, 'berth.yaml'), before);
    }
  });

  it('refuses a reference that does not resolve in one line naming it, and makes nothing', async () => {
    for (const [secrets, words] of [
      [
        '  MISSING: { from: "env:BERTH_TEST_NOT_SET" }',
        /secret MISSING \(from env:BERTH_TEST_NOT_SET\): BERTH_TEST_NOT_SET is not set/,
      ],
      [
        '  GONE: { from: "file:/nonexistent/berth-token" }',
        /secret GONE \(from file:\/nonexistent\/berth-token\): \/nonexistent\/berth-token does not exist/,
      ],
      [
        // Its stderr may hold the value (a tool that echoes what it read): the error does not show it.
        '  FAILS: { from: "command:echo stderr-holds-it >&2; exit 3" }',
        /secret FAILS \(from command:echo stderr-holds-it >&2; exit 3\): it exited with 3 \(its stderr is not shown: it may hold the value; run the command yourself to see it\)$/,
      ],
    ] as const) {
      const file = join(scratch, 'bad.yaml');
      writeFileSync(file, `secrets:\n${secrets}\n`);
      const run = await berthWith(['provision', 'sec-bad', '--config', file, '--json']);
      expect(run.exitCode).toBe(2);
      const error = errorOf(run, 'provision');
      expect(error.code).toBe('secret-unresolved');
      expect(error.message).toMatch(words);
      expect(run.stderr.replace(error.message, '')).not.toContain('stderr-holds-it');
      const made = await docker().listContainers({
        all: true,
        filters: { label: ['dev.berth.agent=sec-bad'] },
      });
      expect(made).toEqual([]);
      expect(existsSync(join(`${repo.root}.worktrees`, 'sec-bad'))).toBe(false);
      const state = JSON.parse(readFileSync(join(repo.root, '.git', 'berth', 'state.json'), 'utf8'));
      expect(state.agents['sec-bad']).toBeUndefined();
    }
  });

  it('stops a command that is still resolving when berth is told to stop, with what it started', async () => {
    const file = join(scratch, 'slow.yaml');
    const pidFile = join(scratch, 'slow-secret.pid');
    writeFileSync(file, `secrets:\n  SLOW: { from: "command:sleep 120 & echo $! > ${pidFile}; wait" }\n`);
    // SIGTERM to berth alone, as a supervisor sends it (not to its process group, as a terminal would).
    const provision = execa(
      process.execPath,
      [BIN, 'provision', 'sec-slow', '--repo', repo.root, '--config', file, '--json'],
      {
        reject: false,
        stdin: 'ignore',
      },
    );
    // Until the command has started its background child (or berth has ended: then the checks below fail).
    while (
      (!existsSync(pidFile) || readFileSync(pidFile, 'utf8').trim() === '') &&
      provision.exitCode === null
    )
      await sleep(50);
    const background = Number(readFileSync(pidFile, 'utf8').trim());
    provision.kill('SIGTERM');
    const run = await provision;
    expect(run.exitCode).toBe(143); // 128 + SIGTERM, as a shell reports it
    expect(errorOf(cli(run), 'provision').code).toBe('interrupted');
    expect(await processGone(background)).toBe(true);
    const state = JSON.parse(readFileSync(join(repo.root, '.git', 'berth', 'state.json'), 'utf8'));
    expect(state.agents['sec-slow']).toBeUndefined();
  }, 60_000);

  it('leaves no value in docker inspect, any file berth wrote, any output, or the patch teardown saves', async () => {
    const values = [FROM_ENV, ROTATED, FROM_FILE, FROM_COMMAND];
    // An agent secret the agent wrote into its work (as a careless hook writes a token into .npmrc).
    await shInAgent(
      repo.root,
      NAME,
      'printf "//registry.example.com/:_authToken=%s\\n" "$FROM_ENV" > .npmrc',
    );
    const containers = await docker().listContainers({
      all: true,
      filters: { label: [`dev.berth.agent=${NAME}`] },
    });
    expect(containers.length).toBeGreaterThanOrEqual(3);
    const inspected = await Promise.all(containers.map((c) => docker().getContainer(c.Id).inspect()));
    const execs =
      (
        await docker()
          .getContainer(await agentContainer())
          .inspect()
      ).ExecIDs ?? [];
    const execInfo = await Promise.all(
      execs.map((id) =>
        docker()
          .getExec(id)
          .inspect()
          .catch(() => ({})),
      ),
    );
    for (const what of ['ls', 'show', 'env'])
      outputs.push((await berthWith([what, ...(what === 'ls' ? [] : [NAME]), '--json'])).stdout);
    outputs.push((await berthWith(['env', NAME, '--container', '--show-secrets'])).stdout);
    outputs.push((await berthWith(['logs', NAME])).stdout);

    // The worktree goes at teardown: what berth wrote there (the env file) is read first.
    // In the worktree berth writes the env file; the rest there is the agent's (its .npmrc has the token).
    const beforeTeardown = [
      join(`${repo.root}.worktrees`, NAME, '.env.local'),
      ...filesUnder(join(repo.root, '.git', 'berth')),
    ].map((file): [string, string] => [file, readFileSync(file, 'latin1')]);
    for (const file of ['.env.local', 'compose.yaml', 'host.env', 'state.json', 'setup.log', 'hosts'])
      expect(beforeTeardown.some(([path]) => path.endsWith(`/${file}`)) || file === 'hosts').toBe(true);
    // A hooks-only value a setup hook wrote into the work: the agent's container never held it then.
    writeFileSync(join(`${repo.root}.worktrees`, NAME, 'hook-wrote'), `token=${FROM_COMMAND}\n`);
    // The agent's container stopped: nothing to read values back from; berth resolves them again.
    await docker()
      .getContainer(await agentContainer())
      .stop();
    const down = await berthWith(['teardown', NAME, '--force', '--json'], ROTATED);
    expect(down.exitCode, down.stderr).toBe(0);
    const patch = resultOf(down, 'teardown').savedPatch ?? '';
    expect(readFileSync(patch, 'utf8')).toContain('_authToken=***');
    expect(readFileSync(patch, 'utf8')).toContain('token=***');

    const written = filesUnder(join(repo.root, '.git', 'berth'));
    expect(written.some((file) => file.includes('history') && file.endsWith('setup.log'))).toBe(true);
    expect(written).toContain(patch);
    const haystacks: Array<[string, string]> = [
      ...beforeTeardown,
      ...written.map((file): [string, string] => [file, readFileSync(file, 'latin1')]),
      ...inspected.map((info): [string, string] => [`docker inspect ${info.Name}`, JSON.stringify(info)]),
      ...execInfo.map((info): [string, string] => ['docker exec inspect', JSON.stringify(info)]),
      ...outputs.map((text, index): [string, string] => [`output ${index}`, text]),
    ];
    const leaks = haystacks.flatMap(([where, text]) =>
      values.filter((secret) => text.includes(secret)).map(() => where),
    );
    expect(leaks).toEqual([]);
  });
});
