import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { debianMirror, debootstrap, findDebootstrap } from '../../adapters/debootstrap.js';
import type { Engine } from '../../adapters/docker.js';
import {
  buildImage,
  importImage,
  inspectImage,
  listImages,
  pullImage,
  removeImages,
} from '../../adapters/docker.js';
import {
  copyFile,
  ensureDir,
  exists,
  listDir,
  makeTempDir,
  readBytes,
  removeTree,
  writeFile,
} from '../../adapters/files.js';
import { packFromNpm } from '../../adapters/npm.js';
import { isRoot, runStreaming } from '../../adapters/programs.js';
import { EnvironmentError, messageOf } from '../../errors.js';
import { packageRoot } from '../../package-root.js';
import {
  DEBIAN_IMAGE,
  DEBIAN_SUITE,
  DEFAULT_IMAGES,
  EGRESS_IMAGE,
  IMAGE_SCHEME,
  type ImageRole,
  type ImageStatus,
  LABEL_BUILT_ON,
  LABEL_FAST_FOR,
  LABEL_IMAGE,
  LABEL_OFFLINE_FOR,
  LABEL_RECIPE_HASH,
  OFFLINE_BASE_IMAGE,
  OFFLINE_NODE_MAJOR,
  OFFLINE_NPM_MAJOR,
  offlineImage,
  SERVICE_STAND_INS,
  type StandIn,
} from '../../plan/images.js';
import type { HostPaths } from '../../state/paths.js';
import { installRecorded } from './install-record.js';

export const TEMPLATES_DIR = join(packageRoot(), 'templates');

export interface ImageContext {
  env: NodeJS.ProcessEnv;
  docker: Engine;
  paths: HostPaths;
  /** May install missing OS packages (debootstrap) with apt-get. */
  install: boolean;
  progress: (message: string) => void;
}

/**
 * Makes sure an image for `role` is on the engine: the official one if present or pullable, else the
 * offline stand-in built from Debian's packages (reused while its recipe is unchanged).
 */
export async function ensureImage(context: ImageContext, role: ImageRole): Promise<ImageStatus> {
  const { docker } = context;
  const official = DEFAULT_IMAGES[role];
  const offline = offlineImage(role);
  if (await inspectImage(docker, official))
    return { role, image: official, official, offline: false, outcome: 'found' };

  const hash = recipeHash(role);
  const existing = await inspectImage(docker, offline);
  if (existing?.labels[LABEL_RECIPE_HASH] === hash) {
    return { role, image: offline, official, offline: true, outcome: 'found' };
  }

  const logFile = logPath(context, `image-${role}`);
  try {
    await pullImage(docker, official, logFile);
    return { role, image: official, official, offline: false, outcome: 'pulled' };
  } catch (error) {
    context.progress(
      `${official}: pull failed (${engineReason(error)}); building ${offline} from Debian packages`,
    );
  }
  await ensureBaseImage(context);
  await buildOfflineImage(context, role, hash, logFile);
  return { role, image: offline, official, offline: true, outcome: 'built' };
}

/** The offline image for `role` if it is built from the current recipe; for provisioning. */
export async function resolveImage(
  docker: Engine,
  role: ImageRole,
  configured: string,
): Promise<string | undefined> {
  if (await inspectImage(docker, configured)) return configured;
  if (configured !== DEFAULT_IMAGES[role]) return undefined;
  return (await inspectImage(docker, offlineImage(role))) ? offlineImage(role) : undefined;
}

const basePromises = new WeakMap<Engine, Promise<void>>();

/** The Debian root file system every offline image starts from; built once even when asked concurrently. */
function ensureBaseImage(context: ImageContext): Promise<void> {
  let promise = basePromises.get(context.docker);
  if (!promise) {
    promise = buildBaseImage(context);
    basePromises.set(context.docker, promise);
    promise.catch(() => basePromises.delete(context.docker));
  }
  return promise;
}

async function buildBaseImage(context: ImageContext): Promise<void> {
  if (await inspectImage(context.docker, OFFLINE_BASE_IMAGE)) return;
  if (!isRoot()) {
    throw new EnvironmentError(
      'offline-build-needs-root',
      'building offline images needs root (debootstrap)',
      {
        hint: 'run berth host init as root once; later runs as any user reuse the images',
      },
    );
  }
  const logFile = logPath(context, 'image-base');
  if (!findDebootstrap() && context.install) {
    context.progress('installing debootstrap with apt-get');
    await installRecorded(['debootstrap'], context.paths, logFile);
  }
  const mirror = debianMirror();
  context.progress(`building ${OFFLINE_BASE_IMAGE} with debootstrap from ${mirror} (log: ${logFile})`);
  const workDir = makeTempDir(context.paths.build, 'rootfs-');
  const rootfs = join(workDir, 'rootfs');
  try {
    await debootstrap(DEBIAN_SUITE, rootfs, mirror, logFile);
    trustHostCertificates(rootfs, context.env);
    removeTree(join(rootfs, 'var/cache/apt/archives'));
    ensureDir(join(rootfs, 'var/cache/apt/archives/partial'));
    const tar = runStreaming('tar', ['-C', rootfs, '--numeric-owner', '-c', '.'], { logFile });
    await importImage(context.docker, tar.stdout, OFFLINE_BASE_IMAGE, logFile);
    const packed = await tar.done;
    if (packed.exitCode !== 0) throw new Error(`tar of the root file system exited with ${packed.exitCode}`);
  } catch (error) {
    if (error instanceof EnvironmentError) throw error;
    throw buildFailure(OFFLINE_BASE_IMAGE, error, logFile);
  } finally {
    removeTree(workDir);
  }
}

/** Behind a TLS-inspecting proxy the host's bundle holds the proxy's CA: give it to everything built on top. */
function trustHostCertificates(rootfs: string, env: NodeJS.ProcessEnv): void {
  const bundle = hostCaBundle(env);
  if (!bundle) return;
  copyFile(bundle, join(rootfs, 'etc/ssl/certs/ca-certificates.crt'));
  copyFile(bundle, join(rootfs, 'usr/local/share/ca-certificates/berth-host-bundle.crt'));
}

export function hostCaBundle(env: NodeJS.ProcessEnv): string | undefined {
  const candidates = [
    env.SSL_CERT_FILE,
    '/etc/ssl/certs/ca-certificates.crt',
    '/etc/pki/tls/certs/ca-bundle.crt',
  ];
  return candidates.find((path): path is string => Boolean(path && exists(path)));
}

async function buildOfflineImage(context: ImageContext, role: ImageRole, hash: string, logFile: string) {
  await buildFromTemplate(context, {
    recipe: role,
    tag: offlineImage(role),
    base: OFFLINE_BASE_IMAGE,
    labels: { [LABEL_OFFLINE_FOR]: DEFAULT_IMAGES[role], [LABEL_RECIPE_HASH]: hash },
    logFile,
  });
}

interface TemplateBuild {
  /** Its recipe: a folder under templates/ (a Dockerfile and the files it copies). */
  recipe: string;
  tag: string;
  base: string;
  labels: Record<string, string>;
  logFile: string;
}

/** `docker build` of a folder under templates/, FROM `base`, with the host's proxy settings. */
async function buildFromTemplate(context: ImageContext, build: TemplateBuild): Promise<void> {
  context.progress(`building ${build.tag} (log: ${build.logFile})`);
  const contextDir = makeTempDir(context.paths.build, `${build.recipe}-`);
  try {
    const files = listDir(join(TEMPLATES_DIR, build.recipe));
    for (const file of files) copyFile(join(TEMPLATES_DIR, build.recipe, file), join(contextDir, file));
    if (build.recipe === 'agent') files.push(...(await packNode(contextDir)));
    await buildImage(context.docker, {
      contextDir,
      files,
      tag: build.tag,
      buildArgs: { BASE: build.base, ...proxyBuildArgs(context.env) },
      labels: { [LABEL_IMAGE]: build.recipe, ...build.labels },
      logFile: build.logFile,
    });
  } catch (error) {
    if (error instanceof EnvironmentError) throw error;
    throw buildFailure(build.tag, error, build.logFile);
  } finally {
    removeTree(contextDir);
  }
}

type StandInStatus = { image: string; outcome: 'found' | 'built' };
const standInPromises = new Map<string, Promise<StandInStatus>>();

/**
 * A service's stand-in (MariaDB, memcached) from Debian's packages, built on the debootstrapped base the
 * first time an agent's services need it, and again when its recipe changes; one build at a time per
 * image in this process.
 */
export function ensureServiceStandIn(
  context: ImageContext,
  standIn: StandIn,
  official: string,
): Promise<StandInStatus> {
  const tag = SERVICE_STAND_INS[standIn];
  let promise = standInPromises.get(tag);
  if (!promise) {
    promise = buildStandIn(context, standIn, official);
    standInPromises.set(tag, promise);
    promise.finally(() => standInPromises.delete(tag)).catch(() => {});
  }
  return promise;
}

async function buildStandIn(
  context: ImageContext,
  standIn: StandIn,
  official: string,
): Promise<StandInStatus> {
  const tag = SERVICE_STAND_INS[standIn];
  const hash = recipeHash(standIn);
  const existing = await inspectImage(context.docker, tag);
  if (existing?.labels[LABEL_RECIPE_HASH] === hash) return { image: tag, outcome: 'found' };
  context.progress(`${official}: not on this host and not pullable; building ${tag} from Debian packages`);
  await ensureBaseImage(context);
  await buildFromTemplate(context, {
    recipe: standIn,
    tag,
    base: OFFLINE_BASE_IMAGE,
    labels: { [LABEL_OFFLINE_FOR]: standIn, [LABEL_RECIPE_HASH]: hash },
    logFile: logPath(context, `image-${standIn}`),
  });
  return { image: tag, outcome: 'built' };
}

export const FAST_POSTGRES_RECIPE = 'postgres-fast';

/** The tag of the pre-initialised Postgres derived from a base image (by its id, so a new base rebuilds). */
export function fastPostgresTag(baseImageId: string): string {
  return `berth/postgres-fast:${baseImageId.replace(/^sha256:/, '').slice(0, 12)}-${recipeHash(FAST_POSTGRES_RECIPE)}`;
}

/** The Postgres image with its cluster initialised at build time, derived from `base`; built when missing. */
export async function ensureFastPostgres(context: ImageContext, base: string): Promise<ImageStatus> {
  const baseInfo = await inspectImage(context.docker, base);
  if (!baseInfo)
    throw new EnvironmentError('image-missing', `the postgres image ${base} is not on this host`);
  const tag = fastPostgresTag(baseInfo.id);
  const status = {
    role: 'postgres-fast' as const,
    image: tag,
    official: base,
    offline: base !== DEFAULT_IMAGES.postgres,
  };
  if (await inspectImage(context.docker, tag)) {
    await removeSupersededImages(context, tag);
    return { ...status, outcome: 'found' };
  }
  await buildFromTemplate(context, {
    recipe: FAST_POSTGRES_RECIPE,
    tag,
    base,
    labels: { [LABEL_FAST_FOR]: base },
    logFile: logPath(context, 'image-postgres-fast'),
  });
  await removeSupersededImages(context, tag);
  return { ...status, outcome: 'built' };
}

export const EGRESS_RECIPE = 'egress';

/**
 * The egress proxy's image (Squid and socat), built from Debian's packages on Debian's image where the
 * registry answers, else on the debootstrapped base; rebuilt when its recipe changes.
 */
export async function ensureEgressImage(context: ImageContext): Promise<ImageStatus> {
  const hash = recipeHash(EGRESS_RECIPE);
  const existing = await inspectImage(context.docker, EGRESS_IMAGE);
  const status = { role: 'egress' as const, image: EGRESS_IMAGE, offline: true };
  if (existing?.labels[LABEL_RECIPE_HASH] === hash)
    return { ...status, official: existing.labels[LABEL_BUILT_ON] ?? DEBIAN_IMAGE, outcome: 'found' };
  const logFile = logPath(context, 'image-egress');
  const base = await debianBase(context, logFile);
  await buildFromTemplate(context, {
    recipe: EGRESS_RECIPE,
    tag: EGRESS_IMAGE,
    base,
    labels: { [LABEL_RECIPE_HASH]: hash, [LABEL_BUILT_ON]: base },
    logFile,
  });
  // The image an earlier recipe made, untagged now.
  await removeImages(context.docker, await listImages(context.docker, { danglingWithLabel: LABEL_IMAGE }));
  return { ...status, official: base, outcome: 'built' };
}

/** Debian's own image if present or pullable, else the base berth builds with debootstrap. */
async function debianBase(context: ImageContext, logFile: string): Promise<string> {
  if (await inspectImage(context.docker, DEBIAN_IMAGE)) return DEBIAN_IMAGE;
  if (!(await inspectImage(context.docker, OFFLINE_BASE_IMAGE))) {
    try {
      await pullImage(context.docker, DEBIAN_IMAGE, logFile);
      return DEBIAN_IMAGE;
    } catch {
      await ensureBaseImage(context);
    }
  }
  return OFFLINE_BASE_IMAGE;
}

/**
 * Images berth built before that a rebuild replaced: older pre-initialised Postgres tags and untagged
 * offline images. One still used by a container stays (the engine refuses), and is tried again next time.
 */
async function removeSupersededImages(context: ImageContext, current: string): Promise<void> {
  const fast = await listImages(context.docker, { repository: 'berth/postgres-fast' });
  const dangling = await listImages(context.docker, { danglingWithLabel: LABEL_IMAGE });
  await removeImages(context.docker, [...fast.filter((tag) => tag !== current), ...dangling]);
}

/** Current Node and npm come from the npm registry, fetched on the host, which already trusts its CA. */
async function packNode(contextDir: string): Promise<string[]> {
  const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
  await packFromNpm(`node-linux-${arch}@${OFFLINE_NODE_MAJOR}`, join(contextDir, 'node.tgz'));
  await packFromNpm(`npm@${OFFLINE_NPM_MAJOR}`, join(contextDir, 'npm.tgz'));
  return ['node.tgz', 'npm.tgz'];
}

function proxyBuildArgs(env: NodeJS.ProcessEnv): Record<string, string> {
  const names = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy'];
  return Object.fromEntries(names.flatMap((name) => (env[name] ? [[name, env[name]]] : [])));
}

/** Changes whenever a file of the recipe or the Node version it installs changes. */
export function recipeHash(recipe: string): string {
  const hash = createHash('sha256').update(`${recipe}\n${DEBIAN_SUITE}\n${IMAGE_SCHEME}\n`);
  if (recipe === 'agent') hash.update(`node ${OFFLINE_NODE_MAJOR} npm ${OFFLINE_NPM_MAJOR}\n`);
  const dir = join(TEMPLATES_DIR, recipe);
  for (const file of listDir(dir)) hash.update(`${file}\n`).update(readBytes(join(dir, file)));
  return hash.digest('hex').slice(0, 16);
}

function buildFailure(tag: string, error: unknown, logFile: string): EnvironmentError {
  return new EnvironmentError(
    'image-build-failed',
    `building ${tag} failed: ${firstLine(messageOf(error))}`,
    {
      hint: `read the build log: ${logFile}`,
      logFile,
      cause: error,
    },
  );
}

/** A fresh log for one build. */
function logPath(context: ImageContext, name: string): string {
  const file = context.paths.log(name);
  writeFile(file, `# berth ${new Date().toISOString()}\n`);
  return file;
}

/** The engine's own words, without dockerode's "(HTTP code 500) server error - " wrapping. */
function engineReason(error: unknown): string {
  return firstLine(messageOf(error))
    .replace(/^\(HTTP code \d+\) [^-]*- /, '')
    .trim();
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
