import { basename } from 'node:path';
import { exists, watchFolder } from '../../adapters/files.js';
import { leasesDir, readLeases } from '../../state/leases.js';
import { repositoryOf } from '../../state/paths.js';
import { openRepo, type RepoOptions } from '../context.js';

export interface RepoIdentity {
  id: string;
  root: string;
  name: string;
}

/** Which repository a folder belongs to: its id (as in berth's labels), main working tree and name. */
export async function repoIdentity(options: RepoOptions): Promise<RepoIdentity> {
  const context = await openRepo(options, { engine: false });
  return { id: context.repoId, root: context.root, name: basename(context.root) };
}

/** berth's folders of the repositories that hold leases on this host: every agent holds some. */
export function hostBerthFolders(env: NodeJS.ProcessEnv): string[] {
  const leases = readLeases(env);
  return [
    ...new Set(
      [...Object.values(leases.ports), ...Object.values(leases.subnets)].map((lease) => lease.berthDir),
    ),
  ];
}

/** The repositories that have agents on this host (their main working trees), as their leases name them. */
export function hostRepoFolders(env: NodeJS.ProcessEnv): string[] {
  return hostBerthFolders(env)
    .map(repositoryOf)
    .filter((folder) => exists(folder));
}

/** Calls `onChange` when the host's leases change (an agent made or gone anywhere); returns how to stop. */
export function watchHostLeases(env: NodeJS.ProcessEnv, onChange: () => void): () => void {
  return watchFolder(leasesDir(env), onChange);
}
