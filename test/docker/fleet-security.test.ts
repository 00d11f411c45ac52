import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { berth, resultOf } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import {
  type FleetPlace,
  fleetPlace,
  fleetStatus,
  hostLeftovers,
  NO_LEFTOVERS,
  removeQueue,
  startQueue,
  startWorker,
  type WorkerProcess,
} from '../helpers/fleet.js';

/**
 * Run inside an agent's container: connects to the queue's port on every address given and on the
 * container's gateway, says what answered, and, as a control, whether its own Postgres answers.
 */
const PROBE = `
const net = require('net');
const fs = require('fs');
const [port, ...hosts] = process.argv.slice(1);
const gateway = fs.readFileSync('/proc/net/route', 'utf8').split('\\n').slice(1)
  .map((l) => l.trim().split(/\\s+/)).filter((f) => f[1] === '00000000' && f[2])
  .map((f) => [0, 2, 4, 6].map((i) => parseInt(f[2].slice(i, i + 2), 16)).reverse().join('.'));
const tryOne = (host, p) => new Promise((done) => {
  const s = net.connect({ host, port: +p, timeout: 3000 });
  let data = '';
  s.on('connect', () => s.write('PING\\r\\n'));
  s.on('data', (d) => { data += d; });
  s.on('timeout', () => { s.destroy(); done(data ? 'answered: ' + data.trim() : 'timeout'); });
  s.on('error', (e) => done(e.code));
  s.on('close', () => done(data ? 'answered: ' + data.trim() : 'closed'));
  setTimeout(() => { s.destroy(); done(data ? 'answered: ' + data.trim() : 'silent'); }, 1500).unref();
});
(async () => {
  const db = new URL(process.env.DATABASE_URL);
  const out = { queue: {}, postgres: await new Promise((done) => {
    const s = net.connect({ host: db.hostname, port: +db.port || 5432 }, () => { s.destroy(); done('connected'); });
    s.on('error', (e) => done(e.code));
  }) };
  for (const host of [...new Set([...hosts, ...gateway])]) out.queue[host] = await tryOne(host, port);
  fs.writeFileSync('probe.json', JSON.stringify(out, null, 2));
  fs.writeFileSync('env.txt', Object.entries(process.env).map(([k, v]) => k + '=' + v).join('\\n'));
  fs.writeFileSync('environ-1.txt', fs.readFileSync('/proc/1/environ', 'utf8'));
})();
`;

let place: FleetPlace;
let queue: { url: string; port: number; home: string };
let worker: WorkerProcess | undefined;
const workers: WorkerProcess[] = [];
const places: FleetPlace[] = [];
let markers: string;

beforeAll(async () => {
  place = await fleetPlace();
  // Published on every address of the host (with its password): the strongest case for the fence.
  queue = await startQueue(place.dir, '0.0.0.0');
  markers = mkdtempSync(join(tmpdir(), 'berth-host-hooks-'));
});

afterAll(async () => {
  for (const one of [worker, ...workers]) one?.process.kill('SIGKILL');
  await Promise.all([worker, ...workers].map((one) => one?.process));
  await removeQueue(queue);
  for (const one of [place, ...places]) one.cleanup();
  rmSync(markers, { recursive: true, force: true });
});

/** SIGTERM: the worker drains and exits. */
async function stop(one: WorkerProcess) {
  one.process.kill('SIGTERM');
  const done = await one.process;
  expect(done.exitCode, one.stderr()).toBe(0);
}

const waitAll = async () =>
  resultOf(await berth(['fleet', 'wait', '--queue', queue.url, '--timeout', '240', '--json']), 'fleet wait');

/** Submits a task of `remote` to the test's queue: `extra` options (--from …), then the command. */
const submit = (remote: string, name: string, command: string[], extra: string[] = []) =>
  berth([
    'fleet',
    'submit',
    '--queue',
    queue.url,
    '--repo',
    remote,
    '--name',
    name,
    ...extra,
    '--',
    ...command,
  ]);

it("an agent's berth.yaml never runs on a worker: a task from its published branch runs no host hook", {
  timeout: 300_000,
}, async () => {
  const marker = join(markers, 'agent-wrote');
  // A worker that allows host hooks: the strongest case. Its tasks' config is the default branch's.
  const hooked = startWorker(place, queue.url, 'hooked', ['--allow-host-hooks']);
  workers.push(hooked);
  const hostile = `hooks:\n  setup: [{ run: "touch ${marker}", on: host }]\n  post-teardown: ["touch ${marker}"]\n`;
  const write = `printf '${hostile}' > berth.yaml && git add berth.yaml && git commit -qm 'my hooks'`;
  await submit(place.remote, 'writes-config', ['sh', '-c', write]);
  expect((await waitAll()).failed, hooked.stderr()).toEqual([]);
  const published = await execa('git', ['show', 'berth/writes-config:berth.yaml'], { cwd: place.remote });
  expect(published.stdout).toContain(marker);

  // The follow-up starts from the agent's branch (its berth.yaml is there) and runs with the default branch's.
  const follow = 'test -n "$(grep agent-wrote berth.yaml)" && git log -1 --format=%s';
  await submit(place.remote, 'follows', ['sh', '-c', follow], ['--from', 'berth/writes-config']);
  expect((await waitAll()).failed, hooked.stderr()).toEqual([]);
  const task = (await fleetStatus(queue.url)).tasks.find((t) => t.name === 'follows');
  expect(task?.outcome).toMatchObject({
    exitCode: 0,
    config: expect.stringMatching(/^the default branch main at [0-9a-f]{12}$/),
  });
  expect(existsSync(marker), 'the agent-written hook ran on the worker').toBe(false);
  await stop(hooked);
  expect(existsSync(marker)).toBe(false);
});

it('a task whose own berth.yaml has host hooks fails where the host does not allow them, and runs where it does', {
  timeout: 300_000,
}, async () => {
  const marker = join(markers, 'owner-wrote');
  const owned = await fleetPlace({
    'berth.yaml': `agent:\n  resources: { cpus: 1, memory: 512m }\nhooks:\n  setup: [{ run: "touch ${marker}", on: host }]\n`,
  });
  places.push(owned);
  const strict = startWorker(place, queue.url, 'strict');
  workers.push(strict);
  const needsHost = (...extra: string[]) => submit(owned.remote, 'needs-host', ['true'], extra);
  await needsHost();
  expect((await waitAll()).failed).toEqual(['needs-host']);
  const refused = (await fleetStatus(queue.url)).tasks.find((t) => t.name === 'needs-host');
  expect(refused).toMatchObject({ state: 'failed', attempts: 1 });
  expect(refused?.failedReason).toMatch(
    /^berth\.yaml \(the default branch main at [0-9a-f]{12}\) runs commands on the host \(hooks\.setup\[0\]\), and this worker does not allow host hooks$/,
  );
  expect(existsSync(marker)).toBe(false);
  await stop(strict);
  expect(await hostLeftovers(place, 'strict')).toEqual(NO_LEFTOVERS);

  const lenient = startWorker(place, queue.url, 'lenient', ['--allow-host-hooks']);
  workers.push(lenient);
  expect(resultOf(await needsHost('--replace', '--json'), 'fleet submit').tasks).toEqual([
    { name: 'needs-host', outcome: 'replaced' },
  ]);
  expect((await waitAll()).failed, lenient.stderr()).toEqual([]);
  expect(existsSync(marker)).toBe(true);
  await stop(lenient);
});

it("an agent's container reaches the queue on no address of its host, and never sees its password", {
  timeout: 300_000,
}, async () => {
  worker = startWorker(place, queue.url, 'fenced');
  const addresses = Object.values(networkInterfaces())
    .flat()
    .filter((a) => a?.family === 'IPv4')
    .map((a) => a?.address ?? '');
  const command = [
    'sh',
    '-c',
    'node -e "$0" "$@" && git add -A && git commit -qm probe',
    PROBE,
    String(queue.port),
    ...addresses,
  ];
  const file = `${place.dir}/probe.yaml`;
  const task = (name: string, onExit: string) =>
    `- name: ${name}\n  repo: ${place.remote}\n  onExit: ${onExit}\n  command: ${JSON.stringify(command)}\n`;
  writeFileSync(file, task('probe', 'teardown') + task('looked-at', 'keep'));
  resultOf(await berth(['fleet', 'submit', '--queue', queue.url, '--tasks', file, '--json']), 'fleet submit');
  const waited = await berth(['fleet', 'wait', '--queue', queue.url, '--timeout', '240', '--json']);
  expect(resultOf(waited, 'fleet wait').failed, worker.stderr()).toEqual([]);

  const show = (path: string) =>
    execa('git', ['show', `berth/probe:${path}`], { cwd: place.remote }).then((r) => r.stdout);
  const probe = JSON.parse(await show('probe.json')) as { queue: Record<string, string>; postgres: string };
  expect(probe.postgres).toBe('connected'); // the probe works: it reaches what it may
  expect(Object.keys(probe.queue)).toEqual(expect.arrayContaining(addresses));
  for (const [address, answer] of Object.entries(probe.queue))
    expect(`${address}: ${answer}`).not.toMatch(/answered/);

  const password = decodeURIComponent(new URL(queue.url).password);
  expect(await show('env.txt')).not.toContain(password);
  expect(await show('environ-1.txt')).not.toContain(password);
  expect(worker.stderr()).not.toContain(password);

  // The kept agent: nothing mounted into its container holds the password, nor does `berth env`.
  const home = place.home('fenced');
  const repos = join(home, 'fleet', 'repos');
  const repo = join(repos, readdirSync(repos).find((name) => existsSync(join(repos, name, '.git'))) ?? '');
  // The kept environment is its attempt's, by the name the task's status gives it.
  const kept = (await fleetStatus(queue.url)).tasks.find((t) => t.name === 'looked-at')?.history.at(-1)?.env;
  expect(kept).toMatch(/^looked-at-\d+$/);
  const env = await berth(['env', kept ?? '', '--repo', repo, '--show-secrets'], {
    env: { BERTH_HOME: home },
  });
  expect(env.exitCode).toBe(0);
  expect(env.stdout).not.toContain(password);
  const [container] = await docker().listContainers({
    filters: { label: [`dev.berth.agent=${kept}`, 'com.docker.compose.service=agent'] },
  });
  const mounts = (
    await docker()
      .getContainer(container?.Id ?? '')
      .inspect()
  ).Mounts;
  expect(mounts.length).toBeGreaterThan(0);
  for (const mount of mounts.filter((m) => m.Source)) {
    const grep = await execa('grep', ['-rqsF', password, mount.Source], { reject: false });
    expect(grep.exitCode, `${mount.Source} holds the password`).not.toBe(0);
  }
  const inspect = JSON.stringify(
    (
      await docker()
        .getContainer(container?.Id ?? '')
        .inspect()
    ).Config.Env,
  );
  expect(inspect).not.toContain(password);
  const teardown = await berth(['teardown', kept ?? '', '--repo', repo], { env: { BERTH_HOME: home } });
  expect(teardown.exitCode).toBe(0);
});

/**
 * Run by a task's agent in its container: it rewrites the host's clone so that the default branch's
 * berth.yaml reads as its own (git reads a loose object without checking its hash): the pack goes
 * loose, and the blob's object file gets the agent's content under the same name.
 */
const SPOIL = `
const { execFileSync } = require('child_process');
const fs = require('fs');
const zlib = require('zlib');
const git = (...args) => execFileSync('git', args, { encoding: 'utf8' }).trim();
const common = fs.realpathSync(git('rev-parse', '--git-common-dir'));
const blob = git('rev-parse', 'origin/main:berth.yaml');
const packs = common + '/objects/pack';
for (const pack of fs.readdirSync(packs).filter((f) => f.endsWith('.pack'))) {
  const data = fs.readFileSync(packs + '/' + pack);
  for (const f of fs.readdirSync(packs)) if (f.startsWith(pack.slice(0, -5))) fs.rmSync(packs + '/' + f);
  execFileSync('git', ['unpack-objects', '-q'], { input: data });
}
const file = common + '/objects/' + blob.slice(0, 2) + '/' + blob.slice(2);
const text = Buffer.from(process.argv[1]);
fs.chmodSync(file, 0o644);
fs.writeFileSync(file, zlib.deflateSync(Buffer.concat([Buffer.from('blob ' + text.length + '\\0'), text])));
if (!git('show', 'origin/main:berth.yaml').includes('touch')) throw new Error('the spoiled blob does not read');
`;

it("a task takes nothing from the clone's devcontainer.json: berth.yaml alone, from the checked commit, decides", {
  timeout: 300_000,
}, async () => {
  // The clone's working tree is checked out once and never updated: what it holds is not the task's.
  const devPlace = await fleetPlace({ '.devcontainer.json': '{ "containerEnv": { "MARK": "one" } }\n' });
  places.push(devPlace);
  const dev = startWorker(devPlace, queue.url, 'devworker');
  workers.push(dev);
  await submit(devPlace.remote, 'no-dev', ['sh', '-c', 'test -z "$MARK"']);
  expect((await waitAll()).failed, dev.stderr()).toEqual([]);
  await stop(dev);
});

// Last: the task it leaves failed would be in every later test's `fleet wait`.
it("an agent that rewrites the host's clone cannot pass its berth.yaml off as the default branch's", {
  timeout: 300_000,
}, async () => {
  const marker = join(markers, 'spoiled');
  const spoiled = await fleetPlace();
  places.push(spoiled);
  // Both tasks run on this one host, whose clone the first spoils: workers earlier tests left running
  // leave the queue first (any of them would take a task, with a clone of its own).
  for (const one of [worker, ...workers])
    if (one && one.process.exitCode === null && one.process.signalCode === null) await stop(one);
  // A worker that allows host hooks: what the default branch says runs on it; what an agent says must not.
  const hooked = startWorker(spoiled, queue.url, 'hooked-spoiled', ['--allow-host-hooks']);
  workers.push(hooked);
  const hostile = `hooks:\n  setup: [{ run: "touch ${marker}", on: host }]\n`;
  await submit(spoiled.remote, 'spoils', ['node', '-e', SPOIL, hostile]);
  expect((await waitAll()).failed, hooked.stderr()).toEqual([]);
  await submit(spoiled.remote, 'after-spoil', ['true']);
  const waited = await waitAll();
  expect(existsSync(marker), 'the agent-written berth.yaml ran a host hook').toBe(false);
  expect(waited.failed).toEqual(['after-spoil']);
  const task = (await fleetStatus(queue.url)).tasks.find((t) => t.name === 'after-spoil');
  expect(task?.failedReason).toMatch(
    /holds a copy of [0-9a-f]{12} that does not check out.*its berth\.yaml is not read/,
  );
  await stop(hooked);
  expect(existsSync(marker)).toBe(false);
});
