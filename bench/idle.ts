import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';

interface Sample {
  cpuNs: number;
  memoryBytes: number;
}

async function sample(docker: Docker, ids: string[]): Promise<Map<string, Sample>> {
  const entries = await Promise.all(
    ids.map(async (id) => {
      const stats = (await docker.getContainer(id).stats({ stream: false })) as unknown as {
        cpu_stats: { cpu_usage: { total_usage: number } };
        memory_stats: { usage?: number; stats?: Record<string, number> };
      };
      const memory = stats.memory_stats;
      // As `docker stats` counts it: usage less the page cache that can be dropped.
      const cache = memory.stats?.total_inactive_file ?? memory.stats?.inactive_file ?? 0;
      return [
        id,
        { cpuNs: stats.cpu_stats.cpu_usage.total_usage, memoryBytes: (memory.usage ?? 0) - cache },
      ] as const;
    }),
  );
  return new Map(entries);
}

/** CPU (percent of one core) and memory of the labelled stacks, over `seconds` of idling. */
export async function idleCost(repoLabel: string, seconds: number) {
  const docker = new Docker();
  const containers = await docker.listContainers({ filters: { label: [`dev.berth.repo=${repoLabel}`] } });
  const ids = containers.map((c) => c.Id);
  const stacks = new Set(containers.map((c) => c.Labels['dev.berth.agent'])).size;
  const before = await sample(docker, ids);
  const startedAt = performance.now();
  await sleep(seconds * 1000);
  const after = await sample(docker, ids);
  const elapsedNs = (performance.now() - startedAt) * 1e6;
  let cpuNs = 0;
  let memory = 0;
  for (const id of ids) {
    cpuNs += (after.get(id)?.cpuNs ?? 0) - (before.get(id)?.cpuNs ?? 0);
    memory += after.get(id)?.memoryBytes ?? 0;
  }
  return {
    stacks,
    containers: ids.length,
    seconds,
    cpuPercentOfOneCore: (cpuNs / elapsedNs) * 100,
    memoryMiBPerStack: memory / stacks / 1024 ** 2,
  };
}
