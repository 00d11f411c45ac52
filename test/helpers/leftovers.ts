import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoId } from '../../src/plan/names.js';
import { readState } from '../../src/state/store.js';
import { docker } from './docker.js';

/** Everything berth may have made for an agent: all empty means nothing was created or leaked. */
export async function leftovers(root: string, name: string) {
  const commonGitDir = realpathSync(join(root, '.git'));
  const filters = { label: [`dev.berth.repo=${repoId(commonGitDir)}`, `dev.berth.agent=${name}`] };
  const client = docker();
  const [containers, networks, volumes] = await Promise.all([
    client.listContainers({ all: true, filters }),
    client.listNetworks({ filters }),
    client.listVolumes({ filters }),
  ]);
  const worktrees = (await execa('git', ['worktree', 'list', '--porcelain'], { cwd: root })).stdout
    .split('\n')
    .filter((line) => line.startsWith('worktree ') && line.includes(`/${name}`));
  const branches = (await execa('git', ['branch', '--list', `*${name}`], { cwd: root })).stdout.trim();
  const state = readState(join(commonGitDir, 'berth')).agents[name];
  return {
    containers: containers.length,
    networks: networks.length,
    volumes: volumes.Volumes?.length ?? 0,
    worktrees: worktrees.length,
    branches: branches ? branches.split('\n').length : 0,
    state: state ? 1 : 0,
  };
}

export const NOTHING = { containers: 0, networks: 0, volumes: 0, worktrees: 0, branches: 0, state: 0 };
