import { imageSize, imagesInUse, listCommittedImages, removeImage } from '../adapters/docker-images.js';
import { resolveCommit } from '../adapters/git.js';
import type { BerthConfig } from '../config/schema.js';
import { AGENT_BUILD_IMAGE, agentBuildsToRemove, LABEL_IMAGE } from '../plan/images.js';
import { LABELS, repoLabels } from '../plan/names.js';
import { claims } from '../plan/reap.js';
import {
  SNAPSHOT_LABEL,
  sizeBytes,
  TEMPLATE_BASE_LABEL,
  TEMPLATE_KEY_LABEL,
  TEMPLATE_LABEL,
  type TemplateImage,
  templatesToRemove,
} from '../plan/template.js';
import { readState } from '../state/store.js';
import { agentBuildTag } from './agent/agent-image.js';
import { resolveStackImages } from './agent/stack-facts.js';
import { templateFor } from './agent/template.js';
import { type RepoContext, trustedTree } from './context.js';
import type { GcAction } from './gc.js';

/**
 * Images of this repository nobody needs: snapshots of agents that are gone, templates beyond the
 * budget that no agent runs and that are not the current base's (the next agent wants it), and agent
 * images `agent.build` made that nothing uses and the config no longer builds.
 */
export async function sweepImages(
  context: RepoContext,
  config: BerthConfig,
  dryRun: boolean,
  report: (action: GcAction) => void,
): Promise<void> {
  const { docker } = context;
  const images = await listCommittedImages(docker, repoLabels(context.repoId));
  const state = readState(context.berthDir);
  for (const image of images.filter((i) => i.labels[SNAPSHOT_LABEL])) {
    const owner = { agent: image.labels[LABELS.agent] ?? '', instance: image.labels[LABELS.instance] };
    if (claims(state, owner)) continue;
    if (!dryRun) await removeImage(docker, image.ref);
    report({ kind: 'image', target: image.ref, reason: `a snapshot of ${owner.agent}, which is gone` });
  }
  const inUse = await imagesInUse(docker);
  const templates: TemplateImage[] = [];
  for (const image of images.filter((i) => i.labels[TEMPLATE_LABEL] && i.labels[TEMPLATE_KEY_LABEL])) {
    const base = image.labels[TEMPLATE_BASE_LABEL];
    const baseSize = (base && (await imageSize(docker, base))) || 0;
    templates.push({
      ref: image.ref,
      repoId: context.repoId,
      key: image.labels[TEMPLATE_KEY_LABEL] as string,
      bytes: Math.max(0, image.size - baseSize),
      createdAt: image.createdAt,
    });
  }
  const used = new Set(templates.filter((t) => inUse.has(t.ref)).map((t) => t.ref));
  const budget = sizeBytes(config.postgres.template.budget);
  const current = templates.length > 0 ? await currentTemplateKey(context, config) : undefined;
  for (const template of templatesToRemove(templates, used, budget, current)) {
    if (!dryRun && !(await removeImage(docker, template.ref))) continue;
    report({
      kind: 'image',
      target: template.ref,
      reason: 'a database template no agent and not the current base uses, over postgres.template.budget',
    });
  }
  // Agent images: a changed Dockerfile or context leaves the old one behind. An agent whose stack is
  // down (compose down, an engine restart) still needs its image to come back.
  const builds = images.filter((i) => i.labels[LABEL_IMAGE] === AGENT_BUILD_IMAGE);
  if (builds.length === 0) return;
  for (const agent of Object.values(state.agents)) inUse.add(agent.images.agent);
  for (const ref of agentBuildsToRemove(builds, inUse, currentAgentBuild(context, config))) {
    if (!dryRun && !(await removeImage(docker, ref))) continue;
    report({
      kind: 'image',
      target: ref,
      reason: 'an agent image built from agent.build that no container uses and the config no longer builds',
    });
  }
}

/** The agent image the config builds now; undefined when it builds none, or its Dockerfile is gone. */
function currentAgentBuild(context: RepoContext, config: BerthConfig): string | undefined {
  try {
    return config.agent.build ? agentBuildTag(trustedTree(context), config.agent.build) : undefined;
  } catch {
    return undefined;
  }
}

/** The template key a new agent on the repository's base would use now; undefined when it cannot be told. */
async function currentTemplateKey(context: RepoContext, config: BerthConfig): Promise<string | undefined> {
  try {
    const start = await resolveCommit(context.here, config.worktree.baseRef);
    if (!start) return undefined;
    return (
      await templateFor(
        context,
        config,
        start,
        await resolveStackImages(context.docker, config, context.paths.pullLog),
      )
    )?.key;
  } catch {
    return undefined; // images not there, a ref gone: the newest template stands for the current base
  }
}
