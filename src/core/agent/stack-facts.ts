import { join } from 'node:path';
import type { Engine } from '../../adapters/docker.js';
import { engineWords, inspectImage, pullImage } from '../../adapters/docker.js';
import { ensureDir, ownerOf } from '../../adapters/files.js';
import { gitIdentity } from '../../adapters/git.js';
import type { BerthConfig } from '../../config/schema.js';
import { EnvironmentError } from '../../errors.js';
import type { AgentRecord } from '../../plan/agent.js';
import { GIT_READ_ONLY, type HostFacts } from '../../plan/compose.js';
import {
  DEFAULT_IMAGES,
  EGRESS_IMAGE,
  type ImageRole,
  offlineImage,
  SERVICE_STAND_INS,
  standInFor,
} from '../../plan/images.js';
import { configuredServices, type ServiceRecord } from '../../plan/services.js';
import { hostPaths } from '../../state/paths.js';
import type { RepoContext } from '../context.js';
import { ensureServiceStandIn, fastPostgresTag, hostCaBundle } from '../host/images.js';

export async function hostFacts(context: RepoContext, config: BerthConfig): Promise<HostFacts> {
  // The folders the agent's container sees read-only exist before it starts (see GIT_READ_ONLY).
  for (const name of GIT_READ_ONLY) if (name !== 'config') ensureDir(join(context.commonGitDir, name));
  return {
    commonGitDir: context.commonGitDir,
    berthDir: context.berthDir,
    caBundle: hostCaBundle(context.runtime.env),
    gitIdentity: await gitIdentity(context.root),
    ...(config.agent.packageCache && {
      packageCache: hostPaths(context.runtime.env).packageCache(ownerOf(context.root).uid),
    }),
  };
}

/**
 * The image to run for each service: the configured one if present (or pullable), else, for berth's
 * defaults, the offline stand-in `berth host init` built. Checked before anything is made.
 */
export async function resolveStackImages(
  docker: Engine,
  config: BerthConfig,
  pullLog: string,
): Promise<{ images: AgentRecord['images']; postgresPreinitialised: boolean }> {
  const wanted: Record<ImageRole, string> = {
    agent: config.agent.image,
    postgres: config.postgres.image,
    redis: config.redis.image,
  };
  const roles = (Object.keys(wanted) as ImageRole[]).filter(
    (role) => (role !== 'redis' || config.redis.enabled) && (role !== 'postgres' || config.postgres.enabled),
  );
  // Each image is asked of the engine once, and a default's stand-in beside it (one round, not two).
  const asked = new Map<string, ReturnType<typeof inspectImage>>();
  const inspect = (ref: string) => {
    const answer = asked.get(ref) ?? inspectImage(docker, ref);
    asked.set(ref, answer);
    return answer;
  };
  const resolved = await Promise.all(
    roles.map(async (role) => [role, await resolveOne(docker, inspect, role, wanted[role], pullLog)]),
  );
  const images = { agent: '', postgres: '', redis: '', ...Object.fromEntries(resolved) };
  const [fast, egress] = await Promise.all([
    config.postgres.enabled && config.postgres.preinit ? preinitialised(inspect, images.postgres) : undefined,
    config.network.egress ? egressImage(docker) : undefined,
  ]);
  return {
    images: { ...images, postgres: fast ?? images.postgres, ...(egress && { egress }) },
    postgresPreinitialised: Boolean(fast),
  };
}

/** The egress proxy's image: `berth host init` builds it. */
async function egressImage(docker: Engine): Promise<string> {
  if (await inspectImage(docker, EGRESS_IMAGE)) return EGRESS_IMAGE;
  throw new EnvironmentError(
    'image-missing',
    `the egress proxy's image ${EGRESS_IMAGE} is not on this host`,
    {
      hint: 'run `berth host init` to build it (network.egress in berth.yaml needs it)',
    },
  );
}

/** The derived image whose cluster was initialised at build time, when `berth host init` made one. */
async function preinitialised(
  inspect: (ref: string) => ReturnType<typeof inspectImage>,
  postgres: string,
): Promise<string | undefined> {
  const base = await inspect(postgres);
  const fast = base && fastPostgresTag(base.id);
  return fast && (await inspect(fast)) ? fast : undefined;
}

async function resolveOne(
  docker: Engine,
  inspect: (ref: string) => ReturnType<typeof inspectImage>,
  role: ImageRole,
  image: string,
  pullLog: string,
): Promise<string> {
  const standIn = image === DEFAULT_IMAGES[role] ? offlineImage(role) : undefined;
  const [own, offline] = await Promise.all([inspect(image), standIn && inspect(standIn)]);
  if (own) return image;
  if (standIn && offline) return standIn;
  try {
    await pullImage(docker, image, pullLog);
    return image;
  } catch (error) {
    throw new EnvironmentError(
      'image-missing',
      `the ${role} image ${image} is not on this host and cannot be pulled (${engineWords(error)})`,
      {
        logFile: pullLog,
        hint:
          image === DEFAULT_IMAGES[role]
            ? 'run `berth host init` to get or build it'
            : `check the image name in berth.yaml, or build or pull it first (docker pull ${image})`,
      },
    );
  }
}

/**
 * The image each service of `services:` runs: the configured one if present or pullable, else berth's
 * stand-in for it (MariaDB, memcached), built from Debian's packages on first use. Checked before
 * anything is made; returns the services with their images resolved.
 */
export async function resolveServiceImages(
  context: RepoContext,
  config: BerthConfig,
  progress: (message: string) => void,
): Promise<Record<string, ServiceRecord>> {
  const services = configuredServices(config);
  const resolved = await Promise.all(
    Object.entries(services).map(async ([name, spec]) => {
      const image = await serviceImage(context, name, spec.image, progress);
      return [name, { ...spec, image }] as const;
    }),
  );
  return Object.fromEntries(resolved);
}

async function serviceImage(
  context: RepoContext,
  service: string,
  image: string,
  progress: (message: string) => void,
): Promise<string> {
  const { docker } = context;
  if (await inspectImage(docker, image)) return image;
  const template = standInFor(image);
  const pullLog = context.paths.pullLog;
  try {
    await pullImage(docker, image, pullLog);
    return image;
  } catch (error) {
    if (!template)
      throw new EnvironmentError(
        'image-missing',
        `services.${service}: the image ${image} is not on this host and cannot be pulled (${engineWords(error)})`,
        {
          logFile: pullLog,
          hint: `build or pull it first (docker pull ${image}); berth has stand-ins for ${Object.keys(SERVICE_STAND_INS).join(' and ')} only`,
        },
      );
  }
  const imageContext = {
    env: context.runtime.env,
    docker,
    paths: hostPaths(context.runtime.env),
    install: false,
    progress,
  };
  const built = await ensureServiceStandIn(imageContext, template, image);
  if (built.outcome === 'built') progress(`services.${service}: built ${built.image} for ${image}`);
  return built.image;
}
