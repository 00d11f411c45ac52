import { z } from 'zod';
import { AGENT_BUILD_REPOSITORY } from './images.js';

/**
 * What `berth host init --install` put on a host, recorded as it installs (state/paths.ts names the
 * file): the OS packages apt newly installed for it (its requests and their dependencies, never one
 * that was there before), and the Compose plugin file it copied in. `berth host uninstall --engine`
 * removes exactly these.
 */
export const installRecordSchema = z.object({
  version: z.literal(1),
  packages: z.array(z.object({ name: z.string(), at: z.string() })),
  composePlugin: z.object({ path: z.string(), at: z.string() }).optional(),
});
export type InstallRecord = z.output<typeof installRecordSchema>;

export const EMPTY_INSTALL_RECORD: InstallRecord = { version: 1, packages: [] };

/** The record after an install: the packages that were not installed before and are now. */
export function recordInstall(
  record: InstallRecord,
  before: ReadonlySet<string>,
  after: ReadonlySet<string>,
  at: string,
): InstallRecord {
  const known = new Set(record.packages.map((p) => p.name));
  const added = [...after].filter((name) => !before.has(name) && !known.has(name)).sort();
  return { ...record, packages: [...record.packages, ...added.map((name) => ({ name, at }))] };
}

/** The packages berth asks apt for, in any of its versions. */
export const BERTH_APT_REQUESTS = ['docker.io', 'docker-compose', 'docker-compose-v2', 'debootstrap'];

/**
 * Hosts a berth set up before it kept an install record: apt's own history says what berth's commands
 * installed. Such an entry is berth's when its command line is exactly the one berth runs
 * (`apt-get install -y -q <packages berth asks for>`); its `Install:` line lists only what that command
 * newly installed (what was there before appears nowhere, or under `Upgrade:`).
 */
export function berthInstallsFromHistory(history: string): Array<{ name: string; at: string }> {
  const installs = new Map<string, string>();
  for (const entry of history.split(/\n\s*\n/)) {
    const field = (key: string) => new RegExp(`^${key}: (.*)$`, 'm').exec(entry)?.[1]?.trim();
    // Removed since (by anyone): no longer berth's, whoever installs it again.
    for (const name of splitPackageList(`${field('Remove') ?? ''}, ${field('Purge') ?? ''}`))
      installs.delete(name);
    const command = field('Commandline');
    const match = command && /^apt-get install -y -q ((?:[a-z0-9.+-]+ ?)+)$/.exec(command);
    if (!match?.[1]) continue;
    const requested = match[1].trim().split(' ');
    if (!requested.every((name) => BERTH_APT_REQUESTS.includes(name))) continue;
    const at = field('Start-Date') ?? '';
    for (const name of splitPackageList(field('Install') ?? '')) installs.set(name, at);
  }
  return [...installs].map(([name, at]) => ({ name, at }));
}

/** "a:amd64 (1.0, automatic), b:amd64 (2.0)" -> ["a", "b"] */
function splitPackageList(list: string): string[] {
  return [...list.matchAll(/([a-z0-9.+-]+)(?::[a-z0-9]+)? \([^)]*\)/g)].map((m) => m[1] as string);
}

/** An agent (or warm pool member, or queue) found on this host, and where. */
export interface HostAgent {
  repo: string;
  name: string;
  kind: 'agent' | 'pool' | 'queue';
}

export interface UninstallFacts {
  agents: HostAgent[];
  force: boolean;
  engine: boolean;
  record: InstallRecord;
  /** From apt's history, for hosts berth set up before it kept a record. */
  historyPackages: Array<{ name: string; at: string }>;
  /** Packages installed now. */
  installed: ReadonlySet<string>;
  /** The Compose plugin file berth installs, when it is there and no package owns it. */
  pluginFile?: string;
  /** berth's own install log names the Compose package it unpacked (hosts set up before the record). */
  pluginInLog: boolean;
}

export interface UninstallPlan {
  /** Agents that keep the uninstall from going ahead (none with --force). */
  refusedFor: HostAgent[];
  /** Agents to tear down first (with --force), as `teardown --force` does. */
  teardown: HostAgent[];
  /** OS packages to purge (with --engine): installed by berth and installed still. */
  packages: string[];
  /** The Compose plugin file to remove, when berth put it there. */
  plugin?: string;
}

/**
 * What an uninstall does: nothing while agents exist unless forced; with --engine, the packages berth
 * recorded (or apt's history shows berth installing, on a host set up before the record) that are
 * installed still, never one that was there before; the Compose plugin berth copied in.
 */
export function planUninstall(facts: UninstallFacts): UninstallPlan {
  const refusedFor = facts.force ? [] : facts.agents;
  const recorded = [...facts.record.packages, ...facts.historyPackages];
  const packages = facts.engine
    ? [...new Set(recorded.map((p) => p.name))].filter((name) => facts.installed.has(name)).sort()
    : [];
  const plugin =
    facts.pluginFile &&
    (facts.record.composePlugin?.path === facts.pluginFile ||
      (!facts.record.composePlugin && facts.pluginInLog))
      ? facts.pluginFile
      : undefined;
  return {
    refusedFor,
    teardown: refusedFor.length > 0 ? [] : facts.agents,
    packages,
    ...(plugin && { plugin }),
  };
}

/**
 * The repositories berth tags its images in: the offline stand-ins, derived images and templates, and
 * agent images built from `agent.build`.
 */
export const BERTH_IMAGE_REPOSITORIES = [
  'berth-offline/',
  'berth/',
  `${AGENT_BUILD_REPOSITORY.split('/')[0]}/`,
];

/**
 * Whether an image is berth's to remove: tagged only in berth's repositories, or untagged and carrying
 * berth's labels (a rebuild's leftover). An image tagged elsewhere is someone's own, even when it carries
 * berth's labels (built on one of berth's images, it inherits them): it stays.
 */
export function imageVerdict(
  image: { tags: string[]; labels: Record<string, string> },
  berthLabels: readonly string[],
): 'berth' | 'foreign' | 'unrelated' {
  const ours = (tag: string) => BERTH_IMAGE_REPOSITORIES.some((prefix) => tag.startsWith(prefix));
  const labelled = Object.keys(image.labels).some((key) => berthLabels.includes(key));
  if (image.tags.length > 0 && image.tags.every(ours)) return 'berth';
  if (image.tags.length === 0) return labelled ? 'berth' : 'unrelated';
  return labelled || image.tags.some(ours) ? 'foreign' : 'unrelated';
}
