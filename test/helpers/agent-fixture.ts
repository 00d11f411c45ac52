import type { AgentRecord } from '../../src/plan/agent.js';
import { agentLabels } from '../../src/plan/names.js';

/** A fixed agent record for planner tests. */
export function agentFixture(overrides: Partial<AgentRecord> = {}): AgentRecord {
  return {
    name: 'fix-login',
    repoId: '0123456789',
    branch: 'berth/fix-login',
    createdBranch: true,
    baseRef: 'main',
    baseCommit: 'a'.repeat(40),
    worktree: '/src/app.worktrees/fix-login',
    composeProject: 'berth-0123456789-fix-login',
    labels: agentLabels('0123456789', 'fix-login'),
    composeFile: '/src/app/.git/berth/agents/fix-login/compose.yaml',
    envFile: '/src/app.worktrees/fix-login/.env.local',
    stateDir: '/src/app/.git/berth/agents/fix-login',
    ports: { postgres: 20000, redis: 20001, web: 20002 },
    subnet: '10.201.0.0/28',
    passwords: { postgres: 'pgpass', redis: 'redispass' },
    user: { uid: 1000, gid: 1000 },
    images: { agent: 'node:24-bookworm', postgres: 'postgres:17', redis: 'redis:7' },
    postgres: { user: 'app', database: 'app', storage: 'durable', preinitialised: true },
    redisEnabled: true,
    appPorts: { web: 3000 },
    status: 'ready',
    createdAt: '2026-11-25T10:00:00.000Z',
    expiry: { ttlSeconds: 1800, expiresAt: '2026-11-25T10:30:00.000Z' },
    ...overrides,
  };
}
