import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readState } from '../../src/state/store.js';
import { BIN, berth, listedAgents, resultOf } from '../helpers/cli.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';
import { eventually } from '../helpers/wait.js';

let repo: TestRepo;
beforeAll(async () => {
  // 20 Postgres clusters starting at once on two cores need more than the default minute.
  repo = await makeRepo({ files: { 'berth.yaml': 'healthTimeout: 300\n' } });
});
afterAll(() => repo?.cleanup());

describe('many provisions at once', () => {
  it('20 berth provision processes started together all succeed, without collisions', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `p${i + 1}`);
    const results = await Promise.all(
      names.map((name) =>
        execa('node', [BIN, 'provision', name, '--repo', repo.root, '--json'], { reject: false }),
      ),
    );
    for (const [index, result] of results.entries()) {
      expect(result.exitCode, `${names[index]}: ${result.stderr}`).toBe(0);
    }
    const agents = results.map(
      (result) =>
        resultOf({ exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: '' }, 'provision')
          .agent,
    );
    const ports = agents.flatMap((agent) => Object.values(agent.ports));
    expect(new Set(ports).size).toBe(ports.length);

    const listed = listedAgents(await berth(['ls', '--repo', repo.root, '--json']));
    expect(listed.map((a: { name: string }) => a.name).sort()).toEqual([...names].sort());
    expect(
      listed.every((a: { state: string; health: string }) => a.state === 'running' && a.health === 'ok'),
    ).toBe(true);
    const worktrees = (await repo.git('worktree', 'list', '--porcelain'))
      .split('\n')
      .filter((l) => l.startsWith('worktree '));
    expect(worktrees).toHaveLength(21);

    const down = await Promise.all(names.map((name) => berth(['teardown', name, '--repo', repo.root])));
    expect(down.map((result) => result.exitCode)).toEqual(names.map(() => 0));
    expect(listedAgents(await berth(['ls', '--repo', repo.root, '--json']))).toEqual([]);
  });

  it('two provisions on one new branch at once: the second is refused in one line, making nothing, and the first keeps its branch', async () => {
    const gate = join(repo.root, '..', 'branch-gate');
    const first = execa('node', [BIN, 'provision', 'sb1', '--branch', 'shared/y', '--repo', repo.root], {
      reject: false,
      env: { BERTH_TEST_HOLD_AFTER: `reserve:${gate}` },
    });
    try {
      await eventually(async () =>
        expect(readState(join(repo.root, '.git', 'berth')).agents.sb1).toBeDefined(),
      );
      const second = await berth(['provision', 'sb2', '--branch', 'shared/y', '--repo', repo.root]);
      expect(second.exitCode).toBe(2);
      expect(second.stderr).toMatch(/^berth: error: branch shared\/y is agent sb1's \(hint: /m);
      expect(readState(join(repo.root, '.git', 'berth')).agents.sb2).toBeUndefined();
    } finally {
      writeFileSync(gate, '');
    }
    expect((await first).exitCode).toBe(0);
    expect(readState(join(repo.root, '.git', 'berth')).branches?.['shared/y']).toMatchObject({
      agent: 'sb1',
    });
    expect((await berth(['teardown', 'sb1', '--repo', repo.root])).exitCode).toBe(0);
    expect(await repo.git('branch', '--list', 'shared/y')).toBe('');
  });

  it('berth up provisions a list, and one failure neither stops nor spoils the others', async () => {
    expect((await berth(['provision', 'taken', '--repo', repo.root])).exitCode).toBe(0);
    const result = await berth(['up', 'u1', 'taken', 'u2', '--repo', repo.root, '--json']);
    expect(result.exitCode).toBe(1);
    const outcomes = resultOf(result, 'up').agents;
    expect(outcomes.map((o) => [o.name, o.outcome === 'success'])).toEqual([
      ['u1', true],
      ['taken', false],
      ['u2', true],
    ]);
    expect(outcomes[1]?.error?.code).toBe('agent-exists');
    const listed = listedAgents(await berth(['ls', '--repo', repo.root, '--json']));
    expect(listed.map((a: { name: string; state: string }) => `${a.name} ${a.state}`)).toEqual([
      'taken running',
      'u1 running',
      'u2 running',
    ]);
  });

  it('berth up -n numbers new agents past the names taken, and prints a summary table', async () => {
    expect((await berth(['provision', 'w-1', '--repo', repo.root])).exitCode).toBe(0);
    const result = await berth(['up', '-n', '2', '--prefix', 'w', '--repo', repo.root]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^w-2\s+ready\s+berth\/w-2/m);
    expect(result.stdout).toMatch(/^w-3\s+ready\s+berth\/w-3/m);
    expect(result.stdout).toContain('2 of 2 ready');
    expect(result.stderr).toMatch(/w-2: starting the stack/);
  });
});
