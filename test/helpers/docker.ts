import Docker from 'dockerode';

/** Every Docker resource a test creates carries this label, so a cleanup can find it even after a crash. */
export const TEST_LABEL = 'dev.berth.test';
/**
 * The label's value: `true`, or BERTH_TEST_SCOPE when several suites share one engine (each removes only
 * what its own runs made, never another's).
 */
export const TEST_SCOPE = process.env.BERTH_TEST_SCOPE || 'true';
/** The label a test resource carries, as `key=value`: what the cleanup filters on. */
export const TEST_LABEL_PAIR = `${TEST_LABEL}=${TEST_SCOPE}`;

export function docker(): Docker {
  return new Docker({
    socketPath: process.env.DOCKER_HOST?.replace('unix://', '') || '/var/run/docker.sock',
  });
}

/** Removes every container, network and volume labelled by a berth test of this scope (this run's or a killed one's). */
export async function removeTestResources(client = docker()): Promise<void> {
  const filters = { label: [TEST_LABEL_PAIR] };
  const containers = await client.listContainers({ all: true, filters });
  await Promise.all(containers.map((c) => client.getContainer(c.Id).remove({ force: true, v: true })));
  const networks = await client.listNetworks({ filters });
  await Promise.all(networks.map((n) => client.getNetwork(n.Id).remove()));
  const { Volumes } = await client.listVolumes({ filters });
  await Promise.all((Volumes ?? []).map((v) => client.getVolume(v.Name).remove({ force: true })));
  // Database templates and snapshots made from tests' agents carry their labels too.
  const images = await client.listImages({ filters: { label: [TEST_LABEL_PAIR, 'dev.berth.managed=true'] } });
  for (const image of images)
    await client
      .getImage(image.Id)
      .remove({ force: true })
      .catch(() => {});
}
