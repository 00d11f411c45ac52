import { availableParallelism } from 'node:os';
import type { ResultOf } from '../../contract.js';
import { UsageError } from '../../errors.js';
import { MOST_AGENTS_AT_ONCE, validateAgentName } from '../../plan/names.js';
import { readState } from '../../state/store.js';
import { type ProvisionOptions, provision } from '../agent/provision.js';
import { errorEntry, successEntry } from '../agent/views.js';
import { openRepo } from '../context.js';

export interface UpOptions extends Omit<ProvisionOptions, 'name'> {
  names?: string[];
  /** Provision this many new agents named <prefix>-<n>, numbering past the names already taken. */
  count?: number;
  prefix?: string;
  /** How many provisions run at once. */
  parallel?: number;
}

export function defaultParallelism(): number {
  return Math.min(8, Math.max(2, availableParallelism() * 2));
}

/** Provisions many agents with bounded parallelism; one failure neither stops nor spoils the others. */
export async function up(options: UpOptions): Promise<ResultOf<'up'>> {
  const names = await namesToProvision(options);
  const agents = await inPool(names, options.parallel, (name) => {
    const started = performance.now();
    const took = () => ({ durationMs: Math.round(performance.now() - started) });
    return provision({ ...options, name }).then(
      (agent) => ({ ...successEntry(name, agent, undefined), ...took() }),
      (error) => ({ ...errorEntry(name, error), ...took() }),
    );
  });
  const failed = agents.filter((entry) => entry.outcome === 'error').length;
  return { agents, ready: agents.length - failed, failed };
}

/** Runs `work` over the items with at most `parallel` at once, keeping the items' order in the results. */
export async function inPool<T, R>(
  items: T[],
  parallel: number | undefined,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  const workers = Math.min(Math.max(1, parallel ?? defaultParallelism()), items.length);
  await Promise.all(Array.from({ length: workers }, worker));
  return results;
}

async function namesToProvision(options: UpOptions): Promise<string[]> {
  const explicit = options.names ?? [];
  if (explicit.length > 0 && options.count !== undefined) {
    throw new UsageError('up-names-and-count', 'give either agent names or -n, not both', {
      hint: 'berth up a b c, or berth up -n 3 --prefix task',
    });
  }
  if (explicit.length > MOST_AGENTS_AT_ONCE) {
    throw new UsageError(
      'up-count',
      `${explicit.length} agent names; at most ${MOST_AGENTS_AT_ONCE} at once`,
      {
        hint: 'provision them in batches, or run them on a fleet',
      },
    );
  }
  if (explicit.length > 0) {
    const duplicate = explicit.find((name, index) => explicit.indexOf(name) !== index);
    if (duplicate)
      throw new UsageError('up-duplicate', `agent name ${duplicate} is given twice`, {
        hint: 'give each name once',
      });
    return explicit.map(validateAgentName);
  }
  const count = options.count ?? 0;
  if (count > MOST_AGENTS_AT_ONCE) {
    throw new UsageError(
      'up-count',
      `-n ${count} is more than berth up makes at once (${MOST_AGENTS_AT_ONCE})`,
      {
        hint: `run berth up -n ${MOST_AGENTS_AT_ONCE} (or fewer) several times`,
      },
    );
  }
  if (!Number.isInteger(count) || count < 1) {
    throw new UsageError(
      'up-count',
      `nothing to provision: give agent names, or -n with a number from 1 to ${MOST_AGENTS_AT_ONCE}`,
      {
        hint: 'berth up a b c, or berth up -n 3',
      },
    );
  }
  const prefix = options.prefix ?? 'agent';
  validateAgentName(`${prefix}-${count}`);
  const taken = new Set(Object.keys(readState((await openRepo(options)).berthDir).agents));
  const names: string[] = [];
  for (let n = 1; names.length < count; n++) if (!taken.has(`${prefix}-${n}`)) names.push(`${prefix}-${n}`);
  return names.map(validateAgentName);
}
