import { createHash } from 'node:crypto';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';

export const AGENT_NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

/** The most agents one `berth up` makes (by count or tasks file): one host, not a fleet. */
export const MOST_AGENTS_AT_ONCE = 500;

/** Agent names: lowercase letters, digits and hyphens, starting with a letter, at most 32 characters. */
export function validateAgentName(name: string): string {
  if (!AGENT_NAME_PATTERN.test(name)) {
    const shown = JSON.stringify(name);
    throw new UsageError('bad-name', `invalid agent name ${shown}`, {
      hint: 'use lowercase letters, digits and hyphens, starting with a letter, at most 32 characters (e.g. "fix-login")',
    });
  }
  return name;
}

const NATURAL = new Intl.Collator('en', { numeric: true });

/** Names in the order people count them: hk1, hk2, hk10 (not hk1, hk10, hk2). `ls`, the page, the fleet. */
export function compareNames(a: string, b: string): number {
  return NATURAL.compare(a, b);
}

/** A short stable id for a repository, from the absolute path of its common git directory. */
export function repoId(commonGitDir: string): string {
  return createHash('sha256').update(resolve(commonGitDir)).digest('hex').slice(0, 10);
}

/** Unique per repository and agent; valid for Compose v1 and v2 (lowercase, digits, hyphens). */
export function composeProject(repo: string, name: string): string {
  return `berth-${repo}-${name}`;
}

export function branchName(prefix: string, name: string): string {
  return `${prefix}${name}`;
}

/** Default: a sibling of the repository named "<repo>.worktrees"; relative folders are from the repo's parent. */
export function worktreePath(repoRoot: string, name: string, folder?: string): string {
  const parent = dirname(repoRoot);
  const base = folder
    ? isAbsolute(folder)
      ? folder
      : join(parent, folder)
    : join(parent, `${basename(repoRoot)}.worktrees`);
  return join(base, name);
}

export const LABELS = {
  managed: 'dev.berth.managed',
  agent: 'dev.berth.agent',
  repo: 'dev.berth.repo',
  /** One provision of an agent: tells its resources apart from an earlier agent's of the same name. */
  instance: 'dev.berth.instance',
  /** The fleet's embedded queue (container and volume). */
  fleet: 'dev.berth.fleet',
} as const;

/** The labels of everything berth made for one repository. */
export function repoLabels(repo: string): Record<string, string> {
  return { [LABELS.managed]: 'true', [LABELS.repo]: repo };
}

/** A new provision's (or pool member's) instance id, from random bytes. */
export function instanceId(random: Buffer): string {
  return random.toString('hex');
}

/**
 * The labels of a stack made now, for an agent or a pool member `name`: the extra labels (BERTH_LABELS),
 * berth's own, and the instance that tells this stack apart from an earlier one of the same name.
 */
export function newStackLabels(
  extra: Record<string, string>,
  repo: string,
  name: string,
  instance: string,
): Record<string, string> {
  return { ...extra, ...agentLabels(repo, name), [LABELS.instance]: instance };
}

/** The labels of everything berth made for one agent (of any of its provisions). */
export function agentLabels(repo: string, name: string): Record<string, string> {
  return { ...repoLabels(repo), [LABELS.agent]: name };
}

/**
 * The agent label an agent's containers, networks and volumes carry: its name, or the id of the pool
 * member it adopted (labels cannot change).
 */
export function stackOwner(agent: { name: string; labels: Record<string, string> }): string {
  return agent.labels[LABELS.agent] ?? agent.name;
}

/**
 * The labels that find the resources of a stack from the labels it was made with (an agent's, or a pool
 * member's): every stack berth makes carries its agent label.
 */
export function stackSelector(repo: string, labels: Record<string, string>): Record<string, string> {
  return { ...repoLabels(repo), [LABELS.agent]: labels[LABELS.agent] ?? '' };
}

/** The labels that find an agent's resources. */
export function stackLabels(agent: {
  name: string;
  repoId: string;
  labels: Record<string, string>;
}): Record<string, string> {
  return { ...repoLabels(agent.repoId), [LABELS.agent]: stackOwner(agent) };
}

/** The label Compose puts on a service's container (berth's own Engine API stack too): its service. */
export const SERVICE_LABEL = 'com.docker.compose.service';

/** The labels of one service's container in an agent's (or member's) stack: `agent`, `postgres`, … */
export function serviceLabels(
  agent: { name: string; repoId: string; labels: Record<string, string> },
  service: string,
): Record<string, string> {
  return { ...stackLabels(agent), [SERVICE_LABEL]: service };
}

/**
 * Extra labels for everything berth creates, from BERTH_LABELS ("key=value,key=value"): a platform can
 * tag an agent's resources with its task or job id; berth's tests tag theirs for cleanup.
 */
export function extraLabels(spec: string | undefined): Record<string, string> {
  if (!spec) return {};
  const labels: Record<string, string> = {};
  for (const pair of spec.split(',').filter(Boolean)) {
    const match = /^([a-zA-Z0-9][a-zA-Z0-9._-]*)=([^,]*)$/.exec(pair.trim());
    if (
      !match?.[1] ||
      (match[1].startsWith('dev.berth.') && Object.values(LABELS).includes(match[1] as never))
    ) {
      throw new UsageError('bad-labels', `BERTH_LABELS has a bad entry: "${pair}"`, {
        hint: 'use key=value pairs separated by commas, e.g. BERTH_LABELS=team=web,job=1234',
      });
    }
    labels[match[1]] = match[2] ?? '';
  }
  return labels;
}

/** The reason berth locks an agent's worktree with: how gc knows berth made it, and for which agent. */
export function worktreeLockReason(name: string, instance?: string): string {
  return instance ? `berth agent ${name} ${instance}` : `berth agent ${name}`;
}

export function parseWorktreeLockReason(
  reason: string | undefined,
): { agent: string; instance?: string } | undefined {
  const match = /^berth agent ([a-z][a-z0-9-]*)(?: ([0-9a-f]+))?$/.exec(reason ?? '');
  if (!match?.[1]) return undefined;
  return { agent: match[1], ...(match[2] && { instance: match[2] }) };
}
