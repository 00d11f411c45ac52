import { describe, expect, it } from 'vitest';
import { queueAddress, queueConnectionOptions, redactQueueUrl } from '../../src/adapters/queue-redis.js';
import { configSchema } from '../../src/config/schema.js';
import {
  type AttemptRecord,
  advertisedHost,
  attemptEnvName,
  attemptId,
  cacheName,
  defaultSlots,
  failureKind,
  fleetTaskFileSchema,
  fleetTaskSchema,
  hostFailures,
  hostHooks,
  hostNameTtlMs,
  hostReach,
  hostState,
  isRepoUrl,
  jobOptions,
  keptByExitPolicy,
  publishedEarlier,
  queueServerCommand,
  queueUrl,
  resultBranch,
  taskTimeoutMs,
} from '../../src/plan/fleet.js';
import { AGENT_NAME_PATTERN } from '../../src/plan/names.js';

describe('the queue URL', () => {
  it('carries the password, encoded, and hides it when shown', () => {
    const url = queueUrl('p@ss/word', '10.0.0.5', 6380);
    expect(url).toBe('redis://:p%40ss%2Fword@10.0.0.5:6380');
    expect(queueConnectionOptions(url)).toMatchObject({
      host: '10.0.0.5',
      port: 6380,
      password: 'p@ss/word',
    });
    expect(redactQueueUrl(url)).toBe('redis://:***@10.0.0.5:6380');
    expect(redactQueueUrl('rediss://user:secret@queue.internal:6379')).toBe(
      'rediss://user:***@queue.internal:6379',
    );
    expect(queueConnectionOptions('rediss://user:secret@queue.internal').tls).toEqual({});
    expect(queueAddress('redis://:x@[::1]:7000')).toEqual({ host: '::1', port: 7000 });
  });

  it('refuses what is not a Redis URL, without echoing a password', () => {
    expect(() => queueConnectionOptions('http://:secret@host:1')).toThrow(/must start with redis:\/\//);
    expect(() => queueConnectionOptions('not a url :secret@')).toThrow(/is not a queue URL/);
  });

  it('names an address other hosts can reach for a wildcard bind', () => {
    const addresses = [
      { iface: 'docker0', address: '172.17.0.1' },
      { iface: 'br-12ab', address: '10.201.0.1' },
      { iface: 'eth0', address: '10.0.0.5' },
    ];
    expect(advertisedHost('0.0.0.0', addresses)).toBe('10.0.0.5');
    expect(advertisedHost('10.0.0.7', addresses)).toBe('10.0.0.7');
    expect(advertisedHost('0.0.0.0', addresses.slice(0, 2))).toBe('127.0.0.1');
  });

  it('runs Redis with a password, an append-only file and no eviction', () => {
    const command = queueServerCommand('pw');
    expect(command.slice(command.indexOf('--requirepass'), command.indexOf('--requirepass') + 2)).toEqual([
      '--requirepass',
      'pw',
    ]);
    expect(command.join(' ')).toContain('--appendonly yes');
    expect(command.join(' ')).toContain('--maxmemory-policy noeviction');
  });
});

describe('a fleet task', () => {
  it('is torn down after publishing and run once unless asked, by default', () => {
    const task = fleetTaskSchema.parse({
      name: 'fix-1',
      repo: 'https://example.com/r.git',
      command: ['true'],
    });
    expect(task).toMatchObject({ onExit: 'teardown', attempts: 1 });
    expect(jobOptions(task)).toMatchObject({
      jobId: 'fix-1',
      attempts: 1,
      removeOnComplete: false,
      removeOnFail: false,
    });
    expect(resultBranch(task)).toBe('berth/fix-1');
  });

  it('takes a shell line in a tasks file and refuses bad names and unknown fields', () => {
    expect(fleetTaskFileSchema.parse({ name: 'a', repo: '/r', command: 'make test' }).command).toBe(
      'make test',
    );
    expect(fleetTaskSchema.safeParse({ name: 'Bad_Name', repo: '/r', command: ['x'] }).success).toBe(false);
    expect(fleetTaskSchema.safeParse({ name: 'a', repo: '/r', command: ['x'], retries: 2 }).success).toBe(
      false,
    );
    expect(fleetTaskSchema.safeParse({ name: 'a', repo: '/r', command: ['x'], attempts: 0 }).success).toBe(
      false,
    );
  });

  it('tells URLs from paths', () => {
    for (const url of ['https://h/r.git', 'ssh://git@h/r.git', 'file:///srv/r.git', 'git@github.com:o/r.git'])
      expect(isRepoUrl(url), url).toBe(true);
    for (const path of ['/srv/r.git', './r', 'r.git', 'C:stuff']) expect(isRepoUrl(path), path).toBe(false);
  });
});

describe('a host', () => {
  it('keeps one clone per repository, named after it', () => {
    const one = cacheName('https://example.com/team/app.git');
    expect(one).toMatch(/^app-[0-9a-f]{10}$/);
    expect(cacheName('https://example.com/team/app.git/')).toBe(one);
    expect(cacheName('https://example.com/other/app.git')).not.toBe(one);
    expect(cacheName('git@example.com:team/app.git')).toMatch(/^app-/);
  });

  it('runs as many tasks as its cores and memory allow with the agents’ limits, at least one', () => {
    const gib = 1024 ** 3;
    expect(defaultSlots({ cores: 8, memoryBytes: 32 * gib }, { cpus: 2, memoryBytes: 2 * gib })).toBe(4);
    expect(defaultSlots({ cores: 16, memoryBytes: 8 * gib }, { cpus: 1, memoryBytes: 2 * gib })).toBe(4);
    expect(defaultSlots({ cores: 1, memoryBytes: gib }, { cpus: 2, memoryBytes: 2 * gib })).toBe(1);
  });
});

describe('an attempt', () => {
  it('has an id and an environment name of its own, a valid agent name however long the task', () => {
    expect(attemptId('fix-1', 3)).toBe('fix-1#3');
    expect(attemptEnvName('fix-1', 3)).toBe('fix-1-3');
    const long = 'a'.repeat(32);
    const names = [1, 2, 10, 999].map((n) => attemptEnvName(long, n));
    for (const name of names) {
      expect(name.length).toBeLessThanOrEqual(32);
      expect(AGENT_NAME_PATTERN.test(name), name).toBe(true);
    }
    expect(new Set(names).size).toBe(names.length);
    // Two long tasks that share their first characters keep apart.
    expect(attemptEnvName(`${'b'.repeat(31)}1`, 1)).not.toBe(attemptEnvName(`${'b'.repeat(31)}2`, 1));
    // `<task>-<n>` never meets another task's: the number after the last hyphen names the attempt.
    expect(attemptEnvName('fix', 21)).not.toBe(attemptEnvName('fix-2', 1));
  });

  const record = (number: number, patch: Partial<AttemptRecord> = {}): AttemptRecord => ({
    id: `t#${number}`,
    number,
    job: 1000,
    host: 'h',
    env: `t-${number}`,
    startedAt: '2026-01-01T00:00:00.000Z',
    step: 'run',
    ...patch,
  });

  it("takes an earlier attempt's outcome only when it published and the queue never took its end", () => {
    const published = { commit: 'c1', base: 'b' };
    expect(publishedEarlier([record(1, { published })], 1000, 2)?.id).toBe('t#1');
    expect(publishedEarlier([record(1, { published, end: 'lost' })], 1000, 2)?.id).toBe('t#1');
    // A failure the queue took is retried on purpose; another submission is another task.
    expect(publishedEarlier([record(1, { published, end: 'failed' })], 1000, 2)).toBeUndefined();
    expect(publishedEarlier([record(1, { published, job: 999 })], 1000, 2)).toBeUndefined();
    expect(publishedEarlier([record(1)], 1000, 2)).toBeUndefined();
    expect(publishedEarlier([record(3, { published })], 1000, 2)).toBeUndefined();
  });

  it('counts the failures of hosts of one submission', () => {
    const records = [
      record(1, { end: 'host-failure' }),
      record(2, { end: 'host-failure', job: 1 }),
      record(3, { end: 'lost' }),
      record(4, { end: 'host-failure' }),
    ];
    expect(hostFailures(records, 1000)).toBe(2);
  });

  it("tells a host's failures from a task's", () => {
    expect(failureKind({ code: 'no-free-port', exitCode: 2 })).toBe('host');
    expect(failureKind({ code: 'no-free-subnet', exitCode: 2 })).toBe('host');
    expect(failureKind({ code: 'engine-unreachable', exitCode: 3 })).toBe('host');
    expect(failureKind({})).toBe('host');
    expect(failureKind({ code: 'unknown-ref', exitCode: 2 })).toBe('task');
    expect(failureKind({ code: 'config-invalid', exitCode: 2 })).toBe('task');
    expect(failureKind({ code: 'hook-failed', exitCode: 1 })).toBe('task');
    expect(failureKind({ code: 'hook-timeout', exitCode: 1 })).toBe('task');
  });
});

describe("a task's config", () => {
  it('names every command that would run on the host: on: host hooks and post-teardown', () => {
    const config = configSchema.parse({
      hooks: {
        setup: ['npm ci', { run: 'prepare', on: 'host' }],
        teardown: [{ run: 'dump', on: 'agent' }],
        'post-teardown': ['notify'],
      },
    });
    expect(hostHooks(config)).toEqual(['hooks.setup[1]', 'hooks.post-teardown[0]']);
    expect(hostHooks(configSchema.parse({ hooks: { setup: ['npm ci'] } }))).toEqual([]);
  });

  it('counts every secret of a repository`s config as reaching into the worker: its env, files or commands', () => {
    const config = configSchema.parse({
      hooks: { setup: [{ run: 'prepare', on: 'host' }] },
      secrets: { TOKEN: { from: 'command:id' }, KEY: { from: 'env:HOME' } },
    });
    expect(hostReach(config)).toEqual(['hooks.setup[0]', 'secrets.TOKEN', 'secrets.KEY']);
    expect(hostHooks(config)).toEqual(['hooks.setup[0]']);
  });

  it('takes a timeout as a duration or seconds, never zero', () => {
    const base = { name: 'a', repo: '/r', command: ['x'] };
    expect(taskTimeoutMs(fleetTaskSchema.parse({ ...base, timeout: '30m' }))).toBe(1_800_000);
    expect(taskTimeoutMs(fleetTaskSchema.parse({ ...base, timeout: 90 }))).toBe(90_000);
    expect(taskTimeoutMs(fleetTaskSchema.parse(base))).toBeUndefined();
    for (const timeout of ['0s', 0, '5', '1w', '30d', 99_999_999_999])
      expect(fleetTaskSchema.safeParse({ ...base, timeout }).success, String(timeout)).toBe(false);
  });
});

describe('the host list', () => {
  it('ages a host that stopped writing: silent, gone, then dropped', () => {
    const seen = Date.parse('2026-01-01T00:00:00.000Z');
    const entry = { seenAt: new Date(seen).toISOString(), draining: false, lockMs: 10_000, stalledMs: 5_000 };
    const at = (seconds: number) => hostState(entry, seen + seconds * 1000);
    expect(at(3)).toBe('working');
    expect(hostState({ ...entry, draining: true }, seen + 3000)).toBe('draining');
    expect(at(16)).toBe('silent');
    expect(at(31)).toBe('gone');
    expect(at(61)).toBe('dropped');
    // A name is held as long as a host counts as not gone.
    expect(hostNameTtlMs({ lockMs: 10_000, stalledMs: 5_000 })).toBe(30_000);
  });
});

describe("a killed host's leftovers", () => {
  it('keeps an environment only when its exit policy kept it, not when the host died before the policy ran', () => {
    const ended = { state: 'finished' as const, exitCode: 0 };
    expect(keptByExitPolicy({ ...ended, onExit: 'keep', result: 'kept' })).toBe(true);
    expect(keptByExitPolicy({ ...ended, onExit: 'teardown-if-merged', result: 'kept-unmerged' })).toBe(true);
    // The command ended, the host died while publishing or tearing down: the policy never ran.
    expect(keptByExitPolicy({ ...ended, onExit: 'teardown', result: 'kept' })).toBe(false);
    expect(keptByExitPolicy({ ...ended, onExit: 'teardown-if-merged', result: 'kept' })).toBe(false);
    expect(keptByExitPolicy({ ...ended, onExit: 'teardown', result: 'teardown-failed' })).toBe(false);
    expect(keptByExitPolicy({ state: 'running', onExit: 'keep', result: 'kept' })).toBe(false);
    expect(keptByExitPolicy({ state: 'abandoned', onExit: 'keep', result: 'kept' })).toBe(false);
    expect(keptByExitPolicy(undefined)).toBe(false);
  });
});
