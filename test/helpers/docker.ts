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

/**
 * Removes every container, network, volume and image labelled by a berth test of this scope (this run's
 * or a killed one's); `label` widens it (`dev.berth.test`: every scope).
 */
export async function removeTestResources(client = docker(), label = TEST_LABEL_PAIR): Promise<void> {
  const filters = { label: [label] };
  const containers = await client.listContainers({ all: true, filters });
  await Promise.all(containers.map((c) => client.getContainer(c.Id).remove({ force: true, v: true })));
  const networks = await client.listNetworks({ filters });
  await Promise.all(networks.map((n) => client.getNetwork(n.Id).remove()));
  const { Volumes } = await client.listVolumes({ filters });
  await Promise.all((Volumes ?? []).map((v) => client.getVolume(v.Name).remove({ force: true })));
  // Images tests built, and database templates and snapshots made from tests' agents (labelled too):
  // newest first, so an image goes before the one it was built on.
  const images = (await client.listImages({ filters })).sort((a, b) => b.Created - a.Created);
  for (const image of images)
    await client
      .getImage(image.Id)
      .remove({ force: true })
      .catch(() => {});
}
