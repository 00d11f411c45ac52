import {
  inspectImage,
  listContainers,
  startContainerById,
  stopContainerById,
} from '../../adapters/docker.js';
import { commitContainer, commitFromVolume, execToEnd } from '../../adapters/docker-images.js';
import { pathIdsAt } from '../../adapters/git.js';
import type { BerthConfig } from '../../config/schema.js';
import { BerthError, messageOf } from '../../errors.js';
import type { AgentRecord } from '../../plan/agent.js';
import { PREINITIALISED_PGDATA } from '../../plan/compose.js';
import { LABELS, serviceLabels } from '../../plan/names.js';
import {
  FROM_TEMPLATE_MARKER,
  SNAPSHOT_LABEL,
  TEMPLATE_BASE_LABEL,
  TEMPLATE_KEY_LABEL,
  TEMPLATE_LABEL,
  templateImage,
  templateKey,
} from '../../plan/template.js';
import { holdLongLock } from '../../state/store.js';
import type { RepoContext } from '../context.js';
import { waitUntilReady } from './readiness.js';

export type TemplateUse = NonNullable<AgentRecord['postgres']['template']>;

/** A template this provision uses: found, or to be built by it (holding the build lock until done). */
export interface TemplateClaim {
  use: TemplateUse;
  release: () => Promise<void>;
}

/** The template agents starting at `startCommit` use, and whether it exists; undefined without one. */
export async function templateFor(
  context: RepoContext,
  config: BerthConfig,
  startCommit: string,
  stack: { images: AgentRecord['images']; postgresPreinitialised: boolean },
): Promise<{ image: string; key: string; exists: boolean } | undefined> {
  const { template } = config.postgres;
  const { migrate, seed } = config.hooks;
  if (
    !config.postgres.enabled ||
    !template.enabled ||
    !stack.postgresPreinitialised ||
    migrate.length + seed.length === 0
  )
    return undefined;
  const base = await inspectImage(context.docker, stack.images.postgres);
  if (!base) return undefined;
  const key = templateKey({
    repoId: context.repoId,
    baseImageId: base.id,
    user: config.postgres.user,
    database: config.postgres.database,
    migrate: migrate.map((hook) => JSON.stringify(hook)),
    seed: seed.map((hook) => JSON.stringify(hook)),
    source:
      template.key === 'base'
        ? { kind: 'base', commit: startCommit }
        : { kind: 'files', ids: await pathIdsAt(context.root, startCommit, template.files) },
  });
  const image = templateImage(context.repoId, key);
  return { image, key, exists: Boolean(await inspectImage(context.docker, image)) };
}

/**
 * Finds the template of this agent's base, or takes the right to build it. Provisions on a base with no
 * template yet wait for the one that builds it: 20 at once build one. Undefined when templates are off,
 * there is nothing to template (no migrate or seed hooks), or the Postgres image cannot take one.
 */
export async function settleTemplate(
  context: RepoContext,
  config: BerthConfig,
  startCommit: string,
  stack: { images: AgentRecord['images']; postgresPreinitialised: boolean },
  options: { progress: (message: string) => void; name: string; signal?: AbortSignal },
): Promise<TemplateClaim | undefined> {
  const template = await templateFor(context, config, startCommit, stack);
  if (!template) return undefined;
  const { image, key } = template;
  const found = async () => Boolean(await inspectImage(context.docker, image));
  const nothing = async () => {};
  if (template.exists) return { use: { image, key, built: false }, release: nothing };
  const release = await holdLongLock(context.berthDir, `template-${key}`, {
    signal: options.signal,
    onWait: () =>
      options.progress(`${options.name}: waiting for the database template another provision is building`),
  });
  try {
    if (await found()) {
      await release();
      return { use: { image, key, built: false }, release: nothing };
    }
  } catch (error) {
    await release();
    throw error;
  }
  return { use: { image, key, built: true }, release };
}

/**
 * Makes the template from this agent's database, migrated and seeded: its Postgres stops (a clean
 * shutdown, so the copy needs no recovery), is committed as an image, and starts again.
 */
export async function buildTemplate(
  context: RepoContext,
  agent: AgentRecord,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const use = agent.postgres.template;
  if (!use?.built) return;
  const base = await inspectImage(context.docker, agent.images.postgres);
  await commitDatabase(context, agent, use.image, {
    ...templateLabels(agent),
    [TEMPLATE_LABEL]: agent.repoId,
    [TEMPLATE_KEY_LABEL]: use.key,
    ...(base && { [TEMPLATE_BASE_LABEL]: base.id }),
  });
  await waitUntilReady(context, agent, timeoutMs, signal);
}

/** The labels of an image made from an agent's database: its repository's, and BERTH_LABELS. */
export function templateLabels(agent: AgentRecord): Record<string, string> {
  const labels = { ...agent.labels };
  delete labels[LABELS.agent];
  delete labels[LABELS.instance];
  return labels;
}

/** The agent's Postgres container. */
export async function postgresContainerId(context: RepoContext, agent: AgentRecord): Promise<string> {
  const [container] = await listContainers(context.docker, {
    ...serviceLabels(agent, 'postgres'),
    ...(agent.instance && { [LABELS.instance]: agent.instance }),
  });
  if (!container)
    throw new BerthError('postgres-missing', `agent ${agent.name} has no Postgres container`, {
      hint: 'see berth ls; tear it down and provision it again',
    });
  return container.id;
}

/**
 * Stops the agent's Postgres, commits its cluster as `ref` (with the marker that gives the next
 * container its own password), and starts it again, whatever happened. Ephemeral: the container's own
 * layer is the cluster. Durable: a throwaway container copies the volume into the image's template path.
 */
export async function commitDatabase(
  context: RepoContext,
  agent: AgentRecord,
  ref: string,
  labels: Record<string, string>,
): Promise<void> {
  const id = await postgresContainerId(context, agent);
  // The engine adds the container's labels (its image's among them) to what a commit names; berth's
  // own are set here, empty where they do not apply, so a template is never taken for a snapshot.
  const blank = Object.fromEntries(
    [
      LABELS.agent,
      LABELS.instance,
      SNAPSHOT_LABEL,
      TEMPLATE_LABEL,
      TEMPLATE_KEY_LABEL,
      TEMPLATE_BASE_LABEL,
    ].map((key) => [key, '']),
  );
  const imageLabels = { ...blank, ...labels };
  // The password stays out of the image: each container that runs it brings its own.
  const env = { POSTGRES_PASSWORD: '', PGDATA: PREINITIALISED_PGDATA };
  const marker = `${PREINITIALISED_PGDATA}/${FROM_TEMPLATE_MARKER}`;
  if (agent.postgres.storage === 'ephemeral')
    await execToEnd(context.docker, id, ['touch', marker], 'postgres');
  await stopContainerById(context.docker, id);
  try {
    if (agent.postgres.storage === 'ephemeral') {
      await commitContainer(context.docker, id, ref, { labels: imageLabels, env });
    } else {
      const script = `set -e; rm -rf ${PREINITIALISED_PGDATA}/*; cp -a /from/. ${PREINITIALISED_PGDATA}/; touch ${marker}`;
      await commitFromVolume(
        context.docker,
        agent.images.postgres,
        `${agent.composeProject}_pgdata`,
        script,
        ref,
        { labels: imageLabels, env },
      );
    }
  } catch (error) {
    throw new BerthError(
      'commit-failed',
      `could not save the database of ${agent.name}: ${messageOf(error)}`,
      {
        hint: 'see `docker info` for space; the agent`s database is unchanged',
        cause: error,
      },
    );
  } finally {
    await startContainerById(context.docker, id).catch(() => {});
  }
}
