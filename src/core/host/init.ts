import type { ComposeVariant } from '../../adapters/compose.js';
import { IMAGE_ROLES, type ImageStatus } from '../../plan/images.js';
import { envFrom } from '../../runtime.js';
import { hostPaths } from '../../state/paths.js';
import { rememberCompose } from '../context.js';
import { ensureCompose, ensureEngine } from './engine.js';
import { ensureEgressImage, ensureFastPostgres, ensureImage } from './images.js';

export interface HostInitOptions {
  /** Install the engine, Compose and debootstrap from the OS packages when missing (root, Debian/Ubuntu). */
  install?: boolean;
  /** Progress lines (not results): defaults to nothing. */
  progress?: (message: string) => void;
  env?: NodeJS.ProcessEnv;
}

export interface HostInitResult {
  engine: {
    outcome: 'found' | 'started' | 'installed';
    endpoint: string;
    version: string;
    apiVersion: string;
  };
  compose: { outcome: 'found' | 'installed'; variant: ComposeVariant; version: string; command: string[] };
  images: ImageStatus[];
  /** True when this run changed nothing on the host. */
  unchanged: boolean;
}

/** Makes this host ready to run agents' stacks: engine up, Compose found, images present. Idempotent. */
export async function hostInit(options: HostInitOptions = {}): Promise<HostInitResult> {
  const install = options.install ?? false;
  const progress = options.progress ?? (() => {});
  const env = envFrom(options.env);
  const paths = hostPaths(env);

  const { docker, ...engine } = await ensureEngine({ install, paths, progress, env });
  // Compose before images: both may run apt-get, which cannot run twice at once.
  const composeCli = await ensureCompose({ install, paths, progress, env });
  const imageContext = { docker, paths, install, progress, env };
  const images = await Promise.all(IMAGE_ROLES.map((role) => ensureImage(imageContext, role)));
  const postgres = images.find((image) => image.role === 'postgres');
  if (postgres) images.push(await ensureFastPostgres(imageContext, postgres.image));
  images.push(await ensureEgressImage(imageContext));
  const { chosen: compose, found, failures, installed } = composeCli;
  if (failures.length === 0) rememberCompose(found, env);
  for (const failure of failures) progress(`\`${failure.program} version\` failed: ${failure.reason}`);
  return {
    engine,
    compose: { ...compose, outcome: installed ? 'installed' : 'found' },
    images,
    unchanged: engine.outcome === 'found' && !installed && images.every((image) => image.outcome === 'found'),
  };
}
