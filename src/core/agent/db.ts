import { inspectImage, removeVolume } from '../../adapters/docker.js';
import { createStackVolume, recreateStackContainer, removeImage } from '../../adapters/docker-images.js';
import { writeFile } from '../../adapters/files.js';
import { BerthError, UsageError } from '../../errors.js';
import { type AgentRecord, hasPostgres } from '../../plan/agent.js';
import { renderCompose } from '../../plan/compose.js';
import { engineStackOf } from '../../plan/engine-stack.js';
import {
  defaultSnapshotLabel,
  SNAPSHOT_LABEL,
  snapshotImage,
  validateSnapshotLabel,
} from '../../plan/template.js';
import { updateState } from '../../state/store.js';
import {
  agentConfig,
  knownCompose,
  openRepo,
  type RepoContext,
  type RepoOptions,
  requireAgent,
} from '../context.js';
import { agentDocument } from './document.js';
import { runHooks } from './hooks.js';
import { waitUntilReady } from './readiness.js';
import { withSession } from './sessions.js';
import { agentSnapshots, type SnapshotEntry } from './snapshots.js';
import { hostFacts } from './stack-facts.js';
import { commitDatabase } from './template.js';

export interface DbOptions extends RepoOptions {
  name: string;
  progress?: (message: string) => void;
  signal?: AbortSignal;
}

export interface DbResult {
  agent: string;
  action: 'reset' | 'snapshot' | 'restore';
  /** What the database is now (reset, restore) or was saved as (snapshot). */
  image: string;
  label?: string;
  /** The database restarted: connections to it were dropped. */
  connectionsDropped: true;
  /** Reset without a template: the database was made anew, and migrate and seed ran again. */
  reseeded: boolean;
  durationMs: number;
}

/** Back to the database the agent started with: its base's template, or a new one migrated and seeded. */
export function dbReset(options: DbOptions): Promise<DbResult> {
  return withDatabase(options, async (context, agent, started) => {
    const template = agent.postgres.template;
    const fromTemplate = template && (await inspectImage(context.docker, template.image));
    const image = fromTemplate ? template.image : (agent.postgres.baseImage ?? agent.images.postgres);
    restarting(options, agent);
    await replaceDatabase(context, agent, image);
    const reseeded = !fromTemplate;
    if (reseeded) {
      const config = agentConfig(context, agent);
      for (const hook of ['migrate', 'seed'] as const)
        await runHooks(context, agent, hook, config.hooks[hook], {
          signal: options.signal,
          timeout: config.hookTimeout,
        });
    }
    return { action: 'reset', image, reseeded, durationMs: context.runtime.now() - started };
  });
}

/**
 * Saves the agent's database as it is now, under a label; the agent keeps running on it. A label the
 * agent used already is refused, unless `force`: then the new snapshot replaces the old one.
 */
export function dbSnapshot(options: DbOptions & { label?: string; force?: boolean }): Promise<DbResult> {
  if (options.label !== undefined) validateSnapshotLabel(options.label);
  return withDatabase(options, async (context, agent, started) => {
    const label = validateSnapshotLabel(options.label ?? defaultSnapshotLabel(context.runtime.now()));
    const image = snapshotImage(agent.repoId, agent.name, agent.instance ?? 'x', label);
    const replaced = await inspectImage(context.docker, image);
    if (replaced && !options.force) {
      throw new UsageError('snapshot-exists', `agent ${agent.name} has a snapshot "${label}" already`, {
        hint: `save it under another label (--as), or replace that one: berth db snapshot ${agent.name} --as ${label} --force`,
      });
    }
    restarting(options, agent);
    await commitDatabase(context, agent, image, { ...agent.labels, [SNAPSHOT_LABEL]: label });
    // The one replaced lost its tag: it goes now, or with the agent if its Postgres runs from it.
    if (replaced) await removeImage(context.docker, replaced.id);
    await waitUntilReady(context, agent, 60_000, options.signal);
    return { action: 'snapshot', image, label, reseeded: false, durationMs: context.runtime.now() - started };
  });
}

/** Puts the agent's database back to a snapshot it took. */
export function dbRestore(options: DbOptions & { label: string }): Promise<DbResult> {
  const label = validateSnapshotLabel(options.label);
  return withDatabase(options, async (context, agent, started) => {
    const image = snapshotImage(agent.repoId, agent.name, agent.instance ?? 'x', label);
    if (!(await inspectImage(context.docker, image))) {
      const labels = (await agentSnapshots(context.docker, agent)).map((s) => s.label);
      throw new UsageError('unknown-snapshot', `agent ${agent.name} has no snapshot "${label}"`, {
        hint: labels.length
          ? `its snapshots: ${labels.join(', ')}`
          : `take one with berth db snapshot ${agent.name} --as ${label}`,
      });
    }
    restarting(options, agent);
    await replaceDatabase(context, agent, image);
    return { action: 'restore', image, label, reseeded: false, durationMs: context.runtime.now() - started };
  });
}

/** The snapshots an agent took, oldest first. */
export async function dbSnapshots(options: RepoOptions & { name: string }): Promise<SnapshotEntry[]> {
  const context = await openRepo(options);
  return agentSnapshots(context.docker, requireAgent(context, options.name));
}

function restarting(options: DbOptions, agent: AgentRecord) {
  options.progress?.(`${agent.name}: restarting its Postgres; connections to it are dropped`);
}

async function withDatabase(
  options: DbOptions,
  work: (
    context: RepoContext,
    agent: AgentRecord,
    started: number,
  ) => Promise<Omit<DbResult, 'agent' | 'connectionsDropped'>>,
): Promise<DbResult> {
  const context = await openRepo(options);
  const started = context.runtime.now();
  return withSession(context, options.name, 'db', async (agent) => {
    if (agent.status !== 'ready')
      throw new UsageError('agent-not-ready', `agent ${agent.name} is ${agent.status}`, {
        hint: 'wait until berth ls shows it ready',
      });
    if (!hasPostgres(agent))
      throw new UsageError('no-database', `agent ${agent.name} has no Postgres`, {
        hint: 'it was provisioned with postgres.enabled false (or as a light environment)',
      });
    const result = await work(context, agent, started);
    return { agent: agent.name, connectionsDropped: true, ...result };
  });
}

/**
 * Runs the agent's Postgres from `image`: the container is made again (a durable volume too), the
 * compose file and the record say so, and it answers before this returns.
 */
async function replaceDatabase(context: RepoContext, agent: AgentRecord, image: string): Promise<void> {
  // Planned again, as provision plans it, with Postgres on the image wanted.
  const config = agentConfig(context, agent);
  const planned = { ...agent, images: { ...agent.images, postgres: image } };
  const document = agentDocument(context, planned, config, await hostFacts(context, config));
  const cli = await knownCompose(context.runtime.env);
  const stack = engineStackOf(document, planned, cli);
  const postgres = stack.containers.find((c) => c.service === 'postgres');
  if (!postgres)
    throw new BerthError('compose-file-bad', `the compose file of ${agent.name} has no postgres`);
  await recreateStackContainer(context.docker, postgres, async () => {
    if (agent.postgres.storage !== 'durable') return;
    const volume = stack.volumes.find((v) => v.name === `${agent.composeProject}_pgdata`);
    await removeVolume(context.docker, `${agent.composeProject}_pgdata`);
    if (volume) await createStackVolume(context.docker, volume);
  });
  writeFile(agent.composeFile, renderCompose(document), 0o600);
  await updateState(context.berthDir, (state) => {
    const record = state.agents[agent.name];
    if (record && record.instance === agent.instance) record.images.postgres = image;
  });
  await waitUntilReady(context, agent, 60_000);
}
