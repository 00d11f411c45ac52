import type { Engine as Docker } from '../../adapters/docker.js';
import { listCommittedImages, listUntaggedImages, removeImage } from '../../adapters/docker-images.js';
import type { AgentRecord } from '../../plan/agent.js';
import { LABELS, stackLabels } from '../../plan/names.js';
import { SNAPSHOT_LABEL } from '../../plan/template.js';

export interface SnapshotEntry {
  label: string;
  image: string;
  createdAt: string;
}

/** The database snapshots an agent (of this instance, or of any when `anyInstance`) took, oldest first. */
export async function agentSnapshots(
  docker: Docker,
  agent: Pick<AgentRecord, 'repoId' | 'name' | 'instance' | 'labels'>,
  anyInstance = false,
): Promise<SnapshotEntry[]> {
  const images = await listCommittedImages(docker, {
    ...stackLabels(agent),
    ...(!anyInstance && agent.instance && { [LABELS.instance]: agent.instance }),
  });
  return images
    .filter((image) => image.labels[SNAPSHOT_LABEL])
    .sort((a, b) => a.createdAt - b.createdAt)
    .map((image) => ({
      label: image.labels[SNAPSHOT_LABEL] as string,
      image: image.ref,
      createdAt: new Date(image.createdAt).toISOString(),
    }));
}

/**
 * An agent's snapshot images, which go with it: each it took, and one a `--force` replaced while its
 * Postgres ran from it (untagged since). Asked while its stack is removed; removed after.
 */
export async function snapshotImages(docker: Docker, agent: AgentRecord): Promise<string[]> {
  const [snapshots, replaced] = await Promise.all([
    agentSnapshots(docker, agent, true),
    listUntaggedImages(docker, stackLabels(agent), SNAPSHOT_LABEL),
  ]);
  return [...snapshots.map((snapshot) => snapshot.image), ...replaced];
}

export async function removeSnapshots(docker: Docker, images: readonly string[]): Promise<void> {
  for (const image of images) await removeImage(docker, image);
}
