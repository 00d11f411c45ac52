import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readState } from '../../src/state/store.js';
import { berth } from '../helpers/cli.js';
import { gcLoop } from '../helpers/gc-loop.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

const SOAK_MS = 45_000;
const WORKERS_PER_REPO = 3;

const repos: TestRepo[] = [];
beforeAll(async () => {
  for (let i = 0; i < 2; i++) repos.push(await makeRepo({ files: { 'berth.yaml': 'healthTimeout: 300\n' } }));
});
afterAll(async () => {
  for (const repo of repos) await repo.cleanup();
});

interface Work {
  repo: TestRepo;
  commits: string[];
  /** Uncommitted files written by agents: name and content, to be found in a worktree or a saved patch. */
  unsaved: Array<{ agent: string; content: string }>;
  failures: string[];
}

/** One worker: provision, commit, leave uncommitted work, then (every other round) tear down by force. */
async function worker(work: Work, id: string, deadline: number) {
  for (let round = 0; Date.now() < deadline; round++) {
    const name = `${id}-${round}`;
    const { repo } = work;
    const made = await berth(['provision', name, '--repo', repo.root]);
    if (made.exitCode !== 0) {
      work.failures.push(`provision ${name}: ${made.stderr}`);
      continue;
    }
    const content = `unsaved work of ${name}`;
    const exec = await berth([
      'exec',
      name,
      '--repo',
      repo.root,
      '--',
      'sh',
      '-c',
      `echo ${name} > ${name}.txt && git add ${name}.txt && git commit -qm ${name} && git rev-parse HEAD && echo '${content}' > unsaved.txt`,
    ]);
    if (exec.exitCode !== 0) work.failures.push(`exec ${name}: ${exec.stderr}`);
    else work.commits.push(exec.stdout.trim());
    work.unsaved.push({ agent: name, content });
    if (round % 2 === 0) {
      const down = await berth(['teardown', name, '--repo', repo.root, '--force']);
      if (down.exitCode !== 0) work.failures.push(`teardown ${name}: ${down.stderr}`);
    }
  }
}

it('gc in a loop beside provisions, execs and teardowns in two repositories loses no commit and no uncommitted file, reaps no healthy agent, shares no port', async () => {
  const loop = gcLoop(repos.map((repo) => repo.root));
  const deadline = Date.now() + SOAK_MS;
  const works: Work[] = repos.map((repo) => ({ repo, commits: [], unsaved: [], failures: [] }));
  await Promise.all(
    works.flatMap((work, r) =>
      Array.from({ length: WORKERS_PER_REPO }, (_, w) => worker(work, `s${r}w${w}`, deadline)),
    ),
  );
  const gc = await loop.stop();

  expect(gc.errors).toEqual([]);
  expect(gc.actions.filter((action) => action.kind === 'agent')).toEqual([]);
  for (const work of works) {
    expect(work.failures).toEqual([]);
    expect(work.commits.length).toBeGreaterThan(0);
    for (const sha of work.commits) {
      expect(await work.repo.git('for-each-ref', '--contains', sha, 'refs/heads/'), sha).not.toBe('');
    }
    const berthDir = join(work.repo.root, '.git', 'berth');
    const savedDir = join(berthDir, 'saved');
    const saved = readdirSync(savedDir).map((file) => readFileSync(join(savedDir, file), 'utf8'));
    const live = readState(berthDir).agents;
    for (const { agent, content } of work.unsaved) {
      const record = live[agent];
      const kept = record
        ? readFileSync(join(record.worktree, 'unsaved.txt'), 'utf8').includes(content)
        : false;
      expect(kept || saved.some((patch) => patch.includes(`+${content}`)), agent).toBe(true);
    }
  }
  const ports = repos.flatMap((repo) =>
    Object.values(readState(join(repo.root, '.git', 'berth')).agents).flatMap((agent) =>
      Object.values(agent.ports),
    ),
  );
  expect(new Set(ports).size).toBe(ports.length);
}, 240_000);
