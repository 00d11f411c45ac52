import { join } from 'node:path';
import { z } from 'zod';
import { readText, writeFileAtomic } from '../adapters/files.js';
import { BerthError } from '../errors.js';
import { hostStateDir } from './paths.js';
import { withLock } from './store.js';

/**
 * Host ports and subnets are the host's, not a repository's: every berth process on the host leases
 * them from this one store, under one lock. A lease is released with its agent's record.
 */
const leaseSchema = z.object({
  repoId: z.string(),
  /** berth's folder of the repository: where the holder's record is, to find leases nobody holds. */
  berthDir: z.string(),
  agent: z.string(),
  instance: z.string(),
  since: z.string(),
});
export type Lease = z.output<typeof leaseSchema>;

const leaseFileSchema = z.object({
  version: z.literal(1),
  ports: z.record(z.string(), leaseSchema),
  subnets: z.record(z.string(), leaseSchema),
});
export type Leases = z.output<typeof leaseFileSchema>;

/** The lease folder: BERTH_LEASES (simulated hosts sharing one engine share one), else the host folder. */
export function leasesDir(env: NodeJS.ProcessEnv): string {
  return env.BERTH_LEASES || hostStateDir(env);
}

const leasesFile = (dir: string) => join(dir, 'leases.json');

export function readLeases(env: NodeJS.ProcessEnv): Leases {
  return readLeasesIn(leasesDir(env));
}

/** The leases of the store in `dir` (an agent's record names the store its leases are in). */
export function readLeasesIn(dir: string): Leases {
  const file = leasesFile(dir);
  const text = readText(file);
  if (text === undefined) return { version: 1, ports: {}, subnets: {} };
  try {
    return leaseFileSchema.parse(JSON.parse(text));
  } catch (error) {
    throw new BerthError(
      'leases-corrupt',
      `berth's host lease file ${file} is not valid (${(error as Error).message.split('\n')[0]})`,
      {
        hint: `move it aside (mv ${file} ${file}.broken); berth then leases around the ports and subnets the engine shows in use`,
      },
    );
  }
}

/** Reads the leases under the host lock, lets `change` modify them, and writes them back. */
export async function updateLeases<T>(
  change: (leases: Leases) => T | Promise<T>,
  env: NodeJS.ProcessEnv,
): Promise<T> {
  return updateLeasesIn(leasesDir(env), change);
}

/** As updateLeases, in the store in `dir`. */
export async function updateLeasesIn<T>(dir: string, change: (leases: Leases) => T | Promise<T>): Promise<T> {
  return withLock(dir, 'leases', async () => {
    const leases = readLeasesIn(dir);
    const result = await change(leases);
    writeFileAtomic(leasesFile(dir), `${JSON.stringify(leases, null, 2)}\n`, 0o600);
    return result;
  });
}

/** Drops every lease an agent holds (the agent of that repository and instance). */
export function releaseLeases(leases: Leases, holder: Pick<Lease, 'repoId' | 'agent' | 'instance'>): void {
  for (const table of [leases.ports, leases.subnets]) {
    for (const [key, lease] of Object.entries(table)) {
      if (
        lease.repoId === holder.repoId &&
        lease.agent === holder.agent &&
        lease.instance === holder.instance
      ) {
        delete table[key];
      }
    }
  }
}
