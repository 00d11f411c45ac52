import { describe, expect, it } from 'vitest';
import { queueAddress, queueConnectionOptions, redactQueueUrl } from '../../src/adapters/queue-redis.js';
import {
  advertisedHost,
  cacheName,
  defaultSlots,
  fleetTaskFileSchema,
  fleetTaskSchema,
  isRepoUrl,
  jobOptions,
  queueServerCommand,
  queueUrl,
  resultBranch,
} from '../../src/plan/fleet.js';

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
