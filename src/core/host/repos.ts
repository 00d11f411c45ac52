import { basename, dirname } from 'node:path';
import { exists } from '../../adapters/files.js';
import { readLeases } from '../../state/leases.js';
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

/**
 * The repositories that have agents on this host: every agent holds host leases, and each lease names
 * berth's folder of its repository (`<git dir>/berth`, so the working tree is two folders up).
 */
export function hostRepoFolders(env: NodeJS.ProcessEnv = process.env): string[] {
  const leases = readLeases(env);
  const berthDirs = new Set(
    [...Object.values(leases.ports), ...Object.values(leases.subnets)].map((lease) => lease.berthDir),
  );
  return [...berthDirs].map((dir) => dirname(dirname(dir))).filter((folder) => exists(folder));
}
