import { describe, expect, it } from 'vitest';
import { parseRoutes } from '../../src/adapters/host-net.js';
import {
  leasedPortNames,
  planAgentRecord,
  stackServices,
  storedAgentRecordSchema,
} from '../../src/plan/agent.js';
import { branchStanding, settleBranch } from '../../src/plan/branch.js';
import {
  claimRefusal,
  haltByPause,
  teardownRefusal,
  uncommittedRefusal,
  worktreeRefusal,
} from '../../src/plan/claim.js';
import { exitDecision } from '../../src/plan/exit.js';
import { claims, leaseUnheld, reapReason } from '../../src/plan/reap.js';
import { agentFixture } from '../helpers/agent-fixture.js';

const NOW = Date.parse('2026-11-25T12:00:00.000Z');
const alive = { pid: 10, startTime: '100' };
const dead = { pid: 11, startTime: '200' };
const isRunning = (process: { pid: number }) => process.pid === alive.pid;
const facts = { now: NOW, isRunning, stackGone: false, worktreeGone: false };
const live = { ttlSeconds: 1800, expiresAt: new Date(NOW + 60_000).toISOString() };
const expired = { ttlSeconds: 1800, expiresAt: new Date(NOW - 61_000).toISOString() };

describe('what gc reaps', () => {
  it('leaves a provision in progress, and reaps one whose process died', () => {
    expect(reapReason(agentFixture({ status: 'provisioning', owner: alive }), facts)).toBeUndefined();
    expect(reapReason(agentFixture({ status: 'provisioning', owner: dead }), facts)?.kind).toBe(
      'provision-killed',
    );
  });

  it('leaves an agent another live process removes, and finishes one whose remover died', () => {
    const removal = { reason: 'teardown', since: new Date(NOW).toISOString() };
    expect(
      reapReason(agentFixture({ status: 'removing', removal: { ...removal, by: alive } }), facts),
    ).toBeUndefined();
    expect(
      reapReason(agentFixture({ status: 'removing', removal: { ...removal, by: dead } }), facts),
    ).toMatchObject({
      kind: 'removal-interrupted',
      text: 'its removal (teardown) was interrupted',
    });
  });

  it('reaps an expired agent, but never while a command runs in the agent', () => {
    expect(reapReason(agentFixture({ expiry: expired }), facts)).toMatchObject({
      kind: 'expired',
      text: 'it expired 1m ago',
    });
    const session = { process: alive, kind: 'exec' as const, since: new Date(NOW).toISOString() };
    expect(reapReason(agentFixture({ expiry: expired, sessions: [session] }), facts)).toBeUndefined();
    const killedSession = { ...session, process: dead };
    expect(reapReason(agentFixture({ expiry: expired, sessions: [killedSession] }), facts)?.kind).toBe(
      'expired',
    );
  });

  it('reaps a merged agent not yet expired only when asked (gc --merged)', () => {
    const merged = { ...facts, merged: true };
    expect(reapReason(agentFixture({ expiry: live }), merged)).toBeUndefined();
    expect(reapReason(agentFixture({ expiry: live }), merged, { merged: true })?.kind).toBe('merged');
    expect(
      reapReason(agentFixture({ expiry: live }), { ...facts, merged: false }, { merged: true }),
    ).toBeUndefined();
  });

  it('reaps an agent whose stack and worktree are both gone, and a provision that failed', () => {
    expect(
      reapReason(agentFixture({ expiry: live }), { ...facts, stackGone: true, worktreeGone: true })?.kind,
    ).toBe('gone');
    expect(reapReason(agentFixture({ expiry: live }), { ...facts, stackGone: true })).toBeUndefined();
    expect(reapReason(agentFixture({ status: 'failed', failure: 'engine' }), facts)?.kind).toBe(
      'provision-failed',
    );
  });

  it('tells a new agent`s resources from an earlier one`s of the same name', () => {
    const agents = { a: agentFixture({ name: 'a', instance: 'new1' }) };
    expect(claims({ agents }, { agent: 'a', instance: 'new1' })).toBe(true);
    expect(claims({ agents }, { agent: 'a', instance: 'old1' })).toBe(false);
    expect(claims({ agents }, { agent: 'b', instance: 'new1' })).toBe(false);
  });

  it('counts pool members, and agents that adopted one, as claiming their resources', () => {
    const adopted = agentFixture({
      name: 'a',
      instance: 'p1',
      labels: { 'dev.berth.agent': 'pool-0011', 'dev.berth.instance': 'p1' },
    });
    const pool = { 'pool-0022': { instance: 'p2' } };
    expect(claims({ agents: { a: adopted }, pool }, { agent: 'pool-0011', instance: 'p1' })).toBe(true);
    expect(claims({ agents: { a: adopted }, pool }, { agent: 'pool-0022', instance: 'p2' })).toBe(true);
    expect(claims({ agents: { a: adopted }, pool }, { agent: 'pool-0022', instance: 'x' })).toBe(false);
    expect(claims({ agents: {}, pool: {} }, { agent: 'pool-0011', instance: 'p1' })).toBe(false);
  });

  it('releases a host lease only once nobody holds it and it is past its grace', () => {
    const since = new Date(NOW - 10_000).toISOString();
    expect(leaseUnheld(since, false, NOW, 5_000)).toBe(true);
    expect(leaseUnheld(since, false, NOW, 60_000)).toBe(false);
    expect(leaseUnheld(since, true, NOW, 5_000)).toBe(false);
  });
});

describe('where a branch stands: one answer to "is it merged" for gc, teardown and the exit policy', () => {
  const facts = {
    exists: true,
    ownCommits: 2,
    inBaseByAncestry: false,
    inBaseByContent: false,
    changesNothing: false,
  };
  it('is merged by ancestry, or by content when its commits change something', () => {
    expect(branchStanding({ ...facts, inBaseByAncestry: true })).toBe('merged');
    expect(branchStanding({ ...facts, inBaseByContent: true })).toBe('merged');
    expect(branchStanding(facts)).toBe('unmerged');
  });

  it('is not merged when it has no commits of its own, nor when its only commits change nothing', () => {
    expect(branchStanding({ ...facts, ownCommits: 0, inBaseByAncestry: true })).toBe('no-commits');
    // An empty commit merges into any base "by content": it is still work the base does not have.
    expect(branchStanding({ ...facts, inBaseByContent: true, changesNothing: true })).toBe('unmerged');
    expect(branchStanding({ ...facts, exists: false })).toBe('absent');
  });
});

describe('what becomes of the branch', () => {
  const made = { keep: false, created: true };
  it('deletes it only when berth made it and nothing would be lost', () => {
    expect(settleBranch('merged', made)).toEqual({ delete: true, outcome: 'deleted' });
    expect(settleBranch('unmerged', made)).toEqual({ delete: false, outcome: 'kept-unmerged' });
    expect(settleBranch('no-commits', made)).toEqual({ delete: true, outcome: 'deleted-empty' });
    expect(settleBranch('merged', { ...made, created: false })).toEqual({
      delete: false,
      outcome: 'kept-not-created',
    });
    expect(settleBranch('merged', { ...made, keep: true })).toEqual({
      delete: false,
      outcome: 'kept-by-request',
    });
    expect(settleBranch('absent', made)).toEqual({ delete: false, outcome: 'none' });
  });
});

describe('the exit policy', () => {
  const branch = { name: 'berth/x', base: 'main' };
  it('keeps, tears down, or tears down only when merged', () => {
    expect(exitDecision('keep', { ...branch, standing: 'merged' })).toEqual({
      teardown: false,
      result: 'kept',
    });
    expect(exitDecision('teardown', { ...branch, standing: 'unmerged' })).toEqual({ teardown: true });
    expect(exitDecision('teardown-if-merged', { ...branch, standing: 'merged' })).toEqual({ teardown: true });
    expect(exitDecision('teardown-if-merged', { ...branch, standing: 'unmerged' })).toEqual({
      teardown: false,
      result: 'kept-unmerged',
      message: 'berth/x is not merged into main: kept',
    });
  });

  it('keeps a branch with no commits of its own, as gc --merged does: nothing of it is merged', () => {
    expect(exitDecision('teardown-if-merged', { ...branch, standing: 'no-commits' })).toEqual({
      teardown: false,
      result: 'kept-unmerged',
      message: 'berth/x has no commits of its own: nothing is merged: kept',
    });
  });
});

describe('the record of a new agent', () => {
  it('is made from what was decided, leased and drawn: the clock and the process are given, not read', () => {
    const record = planAgentRecord({
      name: 'a1',
      repoId: 'r1',
      target: {
        branch: 'berth/a1',
        created: true,
        startCommit: 'c'.repeat(40),
        baseRef: 'main',
        worktree: '/w/a1',
      },
      composeProject: 'berth-r1-a1',
      composeFile: '/r/.git/berth/agents/a1/compose.yaml',
      stateDir: '/r/.git/berth/agents/a1',
      envFile: '/w/a1/.env.local',
      hostEnvFile: '/r/.git/berth/agents/a1/host.env',
      labels: { 'dev.berth.agent': 'a1' },
      leased: { ports: { postgres: 20000, redis: 20001 }, subnet: '10.201.0.0/28' },
      leasesDir: '/var/lib/berth',
      passwords: { postgres: 'p', redis: 'r' },
      user: { uid: 1000, gid: 1000 },
      images: { agent: 'a', postgres: 'p', redis: 'r' },
      postgres: { user: 'app', database: 'app', storage: 'ephemeral', preinitialised: true },
      redisEnabled: true,
      postgresEnabled: true,
      appPorts: {},
      instance: 'abc123',
      owner: alive,
      now: NOW,
      ttlSeconds: 600,
    });
    expect(record).toMatchObject({
      status: 'provisioning',
      owner: alive,
      createdAt: '2026-11-25T12:00:00.000Z',
      expiry: { ttlSeconds: 600, expiresAt: '2026-11-25T12:10:00.000Z' },
      instance: 'abc123',
    });
    expect(record.configFile).toBeUndefined();
  });

  it('as an older berth stored it (its expiry named "lease") reads with its expiry', () => {
    const { expiry, ...rest } = agentFixture({ expiry: live });
    const stored = storedAgentRecordSchema.parse({ ...rest, lease: expiry });
    expect(stored.expiry).toEqual(live);
    expect(stored).not.toHaveProperty('lease');
    expect(storedAgentRecordSchema.parse({ ...rest, expiry }).expiry).toEqual(live);
  });
});

describe('the services and ports of an agent', () => {
  it('leases a port for Postgres and Redis only when they are enabled', () => {
    expect(leasedPortNames({ postgres: true, redis: true }, { web: 3000 })).toEqual([
      'postgres',
      'redis',
      'web',
    ]);
    expect(leasedPortNames({ postgres: false, redis: true }, {})).toEqual(['redis']);
    expect(leasedPortNames({ postgres: false, redis: false }, { web: 3000 })).toEqual(['web']);
  });

  it('has the services its record names; a record of an older berth (no postgresEnabled) has Postgres', () => {
    expect(stackServices(agentFixture())).toEqual(['agent', 'postgres', 'redis']);
    expect(stackServices(agentFixture({ postgresEnabled: false, redisEnabled: false }))).toEqual(['agent']);
  });
});

describe('the host`s routes', () => {
  it('are read from /proc/net/route, but the default one', () => {
    const text = [
      'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT',
      'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
      'br-1\t0000C90A\t00000000\t0001\t0\t0\t0\tF0FFFFFF\t0\t0\t0',
      'docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0',
    ].join('\n');
    expect(parseRoutes(text)).toEqual([
      { subnet: '10.201.0.0/28', iface: 'br-1' },
      { subnet: '172.17.0.0/16', iface: 'docker0' },
    ]);
  });
});

describe('a session in an agent whose worktree is gone', () => {
  it('is refused for exec, run and sync with where its commits are, and not for db', () => {
    const agent = agentFixture({});
    for (const kind of ['exec', 'run', 'sync'] as const) {
      const refusal = worktreeRefusal(agent, kind, false);
      expect(refusal?.code).toBe('worktree-missing');
      expect(refusal?.message).toBe(`the worktree of agent ${agent.name}, ${agent.worktree}, is gone`);
      expect(refusal?.hint).toContain(`berth provision ${agent.name} --branch ${agent.branch}`);
      expect(worktreeRefusal(agent, kind, true)).toBeUndefined();
    }
    expect(worktreeRefusal(agent, 'db', false)).toBeUndefined();
  });
});

describe('who may claim a live agent', () => {
  const me = { pid: 10, startTime: 'a' };
  const other = { pid: 20, startTime: 'b' };
  const alive = (process: { pid: number }) => process.pid !== 99;

  it('refuses while another live process removes or provisions it, and names why', () => {
    const removing = agentFixture({ status: 'removing', removal: { by: other, reason: 'gc', since: 'x' } });
    expect(claimRefusal(removing, alive, me)?.message).toBe('agent fix-login is being removed (gc)');
    const provisioning = agentFixture({ status: 'provisioning', owner: other });
    expect(claimRefusal(provisioning, alive, me)?.message).toMatch(/is still being provisioned \(pid 20\)/);
  });

  it('lets the remover itself go on, and anyone take over from a process that died', () => {
    const mine = agentFixture({ status: 'removing', removal: { by: me, reason: 'teardown', since: 'x' } });
    expect(claimRefusal(mine, alive, me)).toBeUndefined();
    const dead = { pid: 99, startTime: 'c' };
    expect(
      claimRefusal(
        agentFixture({ status: 'removing', removal: { by: dead, reason: 'gc', since: 'x' } }),
        alive,
        me,
      ),
    ).toBeUndefined();
    expect(claimRefusal(agentFixture({ status: 'provisioning', owner: dead }), alive, me)).toBeUndefined();
    expect(claimRefusal(agentFixture({ status: 'ready' }), alive, me)).toBeUndefined();
  });
});

describe('when a teardown is refused', () => {
  const me = { pid: 10, startTime: 'a' };
  const exec = { pid: 20, startTime: 'b' };
  const alive = (process: { pid: number }) => process.pid !== 99;
  const session = (process: { pid: number; startTime: string }) => ({
    kind: 'exec' as const,
    process,
    since: '2026-11-25T12:00:00.000Z',
  });

  it('while a command of another process runs in it, unless forced', () => {
    const busy = agentFixture({ sessions: [session(exec)] });
    expect(teardownRefusal(busy, alive, me, false)?.message).toBe(
      'agent fix-login is in use: berth exec (pid 20) runs in it',
    );
    expect(teardownRefusal(busy, alive, me, true)).toBeUndefined();
    // Its own session (berth run tearing down what it ran in) and a dead one do not count.
    expect(teardownRefusal(agentFixture({ sessions: [session(me)] }), alive, me, false)).toBeUndefined();
    const gone = { pid: 99, startTime: 'c' };
    expect(teardownRefusal(agentFixture({ sessions: [session(gone)] }), alive, me, false)).toBeUndefined();
  });

  it('while another process removes it, even when forced', () => {
    const removing = agentFixture({ status: 'removing', removal: { by: exec, reason: 'gc', since: 'x' } });
    expect(teardownRefusal(removing, alive, me, true)?.code).toBe('agent-being-removed');
  });

  it('with uncommitted work, naming how much and how to keep it', () => {
    expect(uncommittedRefusal('a', '/w/a', 0)).toBeUndefined();
    const refusal = uncommittedRefusal('a', '/w/a', 2);
    expect(refusal?.message).toBe('agent a has 2 uncommitted change(s) in /w/a');
    expect(refusal?.hint).toMatch(/--force to save them as a patch/);
  });
});

describe('how a removal halts the agent`s container before saving its work', () => {
  it('freezes one running berth`s idle command, and stops one running a command of its own', () => {
    expect(haltByPause(['sleep', 'infinity'])).toBe(true);
    expect(haltByPause(['sleep', 'infinity', 'x'])).toBe(false);
    expect(haltByPause(['node', 'agent.js'])).toBe(false);
    expect(haltByPause([])).toBe(false);
  });
});
