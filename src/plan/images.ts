/** The images an agent's stack needs. */
export type ImageRole = 'postgres' | 'redis' | 'agent';
export const IMAGE_ROLES: readonly ImageRole[] = ['postgres', 'redis', 'agent'];

/** berth's defaults name the official images users expect. */
export const DEFAULT_IMAGES: Record<ImageRole, string> = {
  postgres: 'postgres:17',
  redis: 'redis:7',
  agent: 'node:24-bookworm',
};

/** The Node major version the offline agent image carries, like the default agent image. */
export const OFFLINE_NODE_MAJOR = '24';
export const OFFLINE_NPM_MAJOR = '11';

export const DEBIAN_SUITE = 'bookworm';
export const OFFLINE_BASE_IMAGE = `berth-offline/debian:${DEBIAN_SUITE}`;

/** The tag of the image berth builds from Debian's packages when the official one cannot be pulled. */
export function offlineImage(role: ImageRole): string {
  return `berth-offline/${role}:${DEBIAN_SUITE}`;
}

/**
 * On images berth builds: their own key, not dev.berth.managed, which containers would inherit (a
 * container a user starts from one is not berth's). The value says which: offline, postgres-fast.
 */
export const LABEL_IMAGE = 'dev.berth.image';
/** Changes when the way berth labels its images changes: images built the old way are rebuilt. */
export const IMAGE_SCHEME = '2';
/** On offline images: a hash of their files in berth's templates/ folder, so a changed file rebuilds. */
export const LABEL_RECIPE_HASH = 'dev.berth.template-hash';
export const LABEL_OFFLINE_FOR = 'dev.berth.offline-for';
/** On the egress image: the Debian image it was built on. */
export const LABEL_BUILT_ON = 'dev.berth.built-on';
/** On pre-initialised Postgres images: the image they were derived from. */
export const LABEL_FAST_FOR = 'dev.berth.fast-for';

/** How an image need was met. */
export type ImageOutcome = 'found' | 'pulled' | 'built';

/** The egress proxy (Squid and socat from Debian's packages), built by `berth host init` on every host. */
export const EGRESS_IMAGE = `berth-offline/egress:${DEBIAN_SUITE}`;
/** What the egress image is built on where the registry answers; else the debootstrapped base. */
export const DEBIAN_IMAGE = `debian:${DEBIAN_SUITE}`;

export interface ImageStatus {
  role: ImageRole | 'postgres-fast' | 'egress';
  /** The image name to run: the official one, or the offline stand-in. */
  image: string;
  /** The image it stands in for, or (postgres-fast, egress) the image it derives from. */
  official: string;
  offline: boolean;
  outcome: ImageOutcome;
}

/**
 * Services berth has an offline stand-in for (built from Debian's packages, like Postgres's and Redis's):
 * an image of that name (any tag) that is not on the host and cannot be pulled runs the stand-in.
 */
export const SERVICE_STAND_INS = {
  mariadb: `berth-offline/mariadb:${DEBIAN_SUITE}`,
  memcached: `berth-offline/memcached:${DEBIAN_SUITE}`,
} as const;
export type StandIn = keyof typeof SERVICE_STAND_INS;

/** The stand-in for an image reference (mariadb:11, docker.io/library/memcached), if berth has one. */
export function standInFor(image: string): StandIn | undefined {
  const match = /^(?:(?:docker\.io|registry-1\.docker\.io)\/)?(?:library\/)?([a-z0-9]+)(?::[\w.-]+)?$/.exec(
    image,
  );
  const name = match?.[1];
  return name && Object.hasOwn(SERVICE_STAND_INS, name) ? (name as StandIn) : undefined;
}

/** Where agent images built from `agent.build` (or a devcontainer's build) are tagged, by a hash of their inputs. */
export const AGENT_BUILD_REPOSITORY = 'berth-build/agent';
/** The value of LABEL_IMAGE on those images. */
export const AGENT_BUILD_IMAGE = 'agent-build';

/**
 * The agent images of a repository gc removes: those no container uses (by tag or id) and that are not
 * the image the repository's config builds now (the next agent wants it).
 */
export function agentBuildsToRemove(
  images: Array<{ ref: string; id: string }>,
  inUse: Set<string>,
  current: string | undefined,
): string[] {
  return images
    .filter((image) => image.ref !== current && !inUse.has(image.ref) && !inUse.has(image.id))
    .map((image) => image.ref);
}
