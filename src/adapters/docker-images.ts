import type Docker from 'dockerode';
import type { EngineStack } from '../plan/engine-stack.js';
import { createOnNetworks, longRunning } from './docker.js';

/** Images berth made from containers (templates, snapshots): what gc and `db` need to know of them. */
export interface CommittedImage {
  ref: string;
  id: string;
  labels: Record<string, string>;
  /** The image's whole size, its parents' layers included. */
  size: number;
  createdAt: number;
}

/**
 * Commits a stopped container as `ref`, with `labels` only (not the container's) and `env` replacing
 * the container's variables of the same names: the engine adds back the ones not named.
 */
export async function commitContainer(
  docker: Docker,
  containerId: string,
  ref: string,
  options: { labels: Record<string, string>; env: Record<string, string> },
): Promise<string> {
  const [repo, tag] = splitRef(ref);
  // A commit of a large database takes as long as its copy: no reply limit.
  const result = (await longRunning(docker)
    .getContainer(containerId)
    .commit({
      _query: { container: containerId, repo, tag, pause: false },
      _body: {
        Labels: options.labels,
        Env: Object.entries(options.env).map(([key, value]) => `${key}=${value}`),
      },
    })) as { Id: string };
  return result.Id;
}

function splitRef(ref: string): [string, string] {
  const at = ref.lastIndexOf(':');
  return at > ref.lastIndexOf('/') ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, 'latest'];
}

/** Tagged images carrying all of `labels`. */
export async function listCommittedImages(
  docker: Docker,
  labels: Record<string, string>,
): Promise<CommittedImage[]> {
  const images = await docker.listImages({
    filters: { label: Object.entries(labels).map(([key, value]) => `${key}=${value}`) },
  });
  return images.flatMap((image) =>
    (image.RepoTags ?? [])
      .filter((ref) => ref !== '<none>:<none>')
      .map((ref) => ({
        ref,
        id: image.Id,
        labels: image.Labels ?? {},
        size: image.Size,
        createdAt: image.Created * 1000,
      })),
  );
}

/** Ids of images without a tag that carry all of `labels` and a label `withLabel` of any value. */
export async function listUntaggedImages(
  docker: Docker,
  labels: Record<string, string>,
  withLabel: string,
): Promise<string[]> {
  const images = await docker.listImages({
    filters: { label: [...Object.entries(labels).map(([key, value]) => `${key}=${value}`), withLabel] },
  });
  return images
    .filter((image) => (image.RepoTags ?? []).every((ref) => ref === '<none>:<none>'))
    .map((image) => image.Id);
}

/** The size of an image, or undefined when there is none by that name. */
export async function imageSize(docker: Docker, ref: string): Promise<number | undefined> {
  try {
    return (await docker.getImage(ref).inspect()).Size;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

/** Image refs (as containers name them) that some container, running or not, was made from. */
export async function imagesInUse(docker: Docker): Promise<Set<string>> {
  const containers = await docker.listContainers({ all: true });
  return new Set(containers.flatMap((c) => [c.Image, c.ImageID]));
}

/** Removes an image by ref; false when a container still uses it (the engine refuses). */
export async function removeImage(docker: Docker, ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).remove();
    return true;
  } catch (error) {
    const status = (error as { statusCode?: number }).statusCode;
    if (status === 404) return true;
    if (status === 409) return false;
    throw error;
  }
}

/**
 * Runs `script` in a throwaway container of `image` as root, with `volume` mounted at `/from`, then commits
 * it as `ref`: how a cluster kept in a volume becomes part of an image. The container is always removed.
 */
export async function commitFromVolume(
  docker: Docker,
  image: string,
  volume: string,
  script: string,
  ref: string,
  options: { labels: Record<string, string>; env: Record<string, string> },
): Promise<string> {
  const container = await docker.createContainer({
    Image: image,
    Entrypoint: ['sh', '-c', script],
    Cmd: [],
    User: '0',
    Labels: options.labels,
    HostConfig: { Mounts: [{ Type: 'volume', Source: volume, Target: '/from', ReadOnly: true }] },
  });
  try {
    await container.start();
    const { StatusCode } = (await longRunning(docker).getContainer(container.id).wait()) as {
      StatusCode: number;
    };
    if (StatusCode !== 0) throw new Error(`copying the cluster out of ${volume} exited with ${StatusCode}`);
    return await commitContainer(docker, container.id, ref, options);
  } finally {
    await container.remove({ force: true, v: true }).catch(() => {});
  }
}

/**
 * Creates one container of a stack again (its networks exist), joined to its networks; `between` runs
 * once the old one is gone (to replace a volume it used).
 */
export async function recreateStackContainer(
  docker: Docker,
  container: EngineStack['containers'][number],
  between: () => Promise<void> = async () => {},
): Promise<void> {
  await docker
    .getContainer(container.name)
    .remove({ force: true, v: true })
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 404) throw error;
    });
  await between();
  const created = await createOnNetworks(docker, container);
  await created.start();
}

/** Runs a command in a running container and waits for it; rejects when it fails. */
export async function execToEnd(docker: Docker, containerId: string, command: string[], user: string) {
  const exec = await longRunning(docker).getContainer(containerId).exec({
    Cmd: command,
    User: user,
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  await new Promise<void>((resolve, reject) => {
    stream.on('end', () => resolve());
    stream.on('error', reject);
    stream.resume();
  });
  const { ExitCode } = await exec.inspect();
  if (ExitCode !== 0) throw new Error(`${command.join(' ')} exited with ${ExitCode}`);
}

export async function createStackVolume(docker: Docker, volume: EngineStack['volumes'][number]) {
  await docker.createVolume({ Name: volume.name, Labels: volume.labels });
}

/** An image as uninstall sees it: its id, its tags, its labels, when it was made. */
export interface ListedImage {
  id: string;
  tags: string[];
  labels: Record<string, string>;
  createdAt: number;
}

/** Every image on the engine (not the intermediate layers of builds), newest first. */
export async function listAllImages(docker: Docker): Promise<ListedImage[]> {
  const images = await docker.listImages();
  return images
    .map((image) => ({
      id: image.Id,
      tags: (image.RepoTags ?? []).filter((tag) => tag !== '<none>:<none>'),
      labels: image.Labels ?? {},
      createdAt: image.Created * 1000,
    }))
    .sort((a, b) => b.createdAt - a.createdAt);
}

/**
 * Removes an image by id with all its tags; undefined when it is gone, else the engine's reason it
 * stays (a container or a child image still uses it).
 */
export async function removeImageById(docker: Docker, id: string): Promise<string | undefined> {
  try {
    await docker.getImage(id).remove({ force: true });
    return undefined;
  } catch (error) {
    const status = (error as { statusCode?: number }).statusCode;
    if (status === 404) return undefined;
    return (error as Error).message.replace(/^\(HTTP code \d+\) [^-]*- /, '').split('\n')[0];
  }
}
