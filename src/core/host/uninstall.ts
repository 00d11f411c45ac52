import { dirname, join } from 'node:path';
import { installedPackages, ownedByPackage, purgePackages, readAptHistory } from '../../adapters/apt.js';
import type { Engine } from '../../adapters/docker.js';
import {
  connect,
  connectionErrorCode,
  DEFAULT_SOCKET,
  engineEndpoint,
  engineVersion,
  listLabelled,
  removeResources,
} from '../../adapters/docker.js';
import { listAllImages, removeImageById } from '../../adapters/docker-images.js';
import { findDockerd, runningDockerd, stopDockerd } from '../../adapters/dockerd.js';
import { exists, listDir, moveFile, readText, removeFile, removeTree } from '../../adapters/files.js';
import { findExecutable, isRoot } from '../../adapters/programs.js';
import type { ResultOf } from '../../contract.js';
import { BerthError, EnvironmentError, messageOf } from '../../errors.js';
import { composePluginFile } from '../../plan/compose-source.js';
import { LABEL_IMAGE } from '../../plan/images.js';
import { LABELS } from '../../plan/names.js';
import {
  berthInstallsFromHistory,
  type HostAgent,
  imageVerdict,
  planUninstall,
} from '../../plan/uninstall.js';
import { envFrom } from '../../runtime.js';
import { leasesDir } from '../../state/leases.js';
import { type HostPaths, hostPaths, repositoryOf, stamp } from '../../state/paths.js';
import { readState } from '../../state/store.js';
import { drainPool } from '../agent/pool.js';
import { teardown } from '../agent/teardown.js';
import { ensureEngine } from './engine.js';
import { readInstallRecord } from './install-record.js';
import { hostBerthFolders } from './repos.js';

export interface HostUninstallOptions {
  dryRun?: boolean;
  /** Also remove the OS packages `host init --install` installed (the engine among them). */
  engine?: boolean;
  /** Tear down every agent on the host first (saving uncommitted work as patches), as `teardown --force`. */
  force?: boolean;
  progress?: (message: string) => void;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

export type HostUninstallResult = ResultOf<'host uninstall'>;

/**
 * Removes what berth put on this host: its images, containers, networks and volumes, its host folder
 * (state, leases, logs, package caches, fleet caches), the Compose plugin it installed, its firewall
 * chains, and with `engine` the OS packages it installed. Refuses while agents exist unless `force`,
 * which tears each down as `teardown --force` does. Idempotent: on a fresh host it does nothing.
 */
export async function hostUninstall(options: HostUninstallOptions = {}): Promise<HostUninstallResult> {
  const env = envFrom(options.env);
  const now = options.now ?? Date.now;
  const dryRun = options.dryRun ?? false;
  const progress = options.progress ?? (() => {});
  const paths = hostPaths(env);
  if (!dryRun && options.engine && !isRoot()) {
    throw new EnvironmentError('uninstall-needs-root', 'removing OS packages needs root', {
      hint: 'run `sudo berth host uninstall --engine`, or leave --engine out',
    });
  }

  const { docker, engine } = await reachEngine(dryRun, paths, progress, env);
  const agents = await agentsOnHost(paths, env, docker);
  const installed = await installedPackages();
  const pluginFile = composePluginFile();
  const plan = planUninstall({
    agents,
    force: options.force ?? false,
    engine: options.engine ?? false,
    record: readInstallRecord(paths),
    historyPackages: berthInstallsFromHistory(readAptHistory()),
    installed,
    ...(exists(pluginFile) && !(await ownedByPackage(pluginFile)) && { pluginFile }),
    pluginInLog: /docker-compose_[^ ]*\.deb/.test(readText(paths.log('install')) ?? ''),
  });
  if (plan.refusedFor.length > 0) throw agentsExist(plan.refusedFor);

  const result: HostUninstallResult = {
    dryRun,
    agents: [],
    containers: 0,
    networks: 0,
    volumes: 0,
    images: [],
    keptImages: [],
    folders: [],
    packages: plan.packages,
    ...(plan.plugin && { composePlugin: plan.plugin }),
    firewall: false,
    engineStopped: false,
    engine,
  };
  const say = (message: string) => progress(`${dryRun ? 'would remove' : 'removing'} ${message}`);

  for (const agent of plan.teardown) {
    if (dryRun) {
      result.agents.push({ ...agent, outcome: 'would-tear-down' });
      continue;
    }
    progress(`tearing down ${agent.kind} ${agent.name} of ${agent.repo}`);
    try {
      const detail = await removeHostAgent(agent, docker, env, progress);
      result.agents.push({ ...agent, outcome: 'torn-down', ...(detail && { detail }) });
    } catch (error) {
      progress(`could not tear down ${agent.name}: ${messageOf(error)}; its containers go by label`);
      result.agents.push({ ...agent, outcome: 'failed', detail: messageOf(error) });
    }
  }

  if (docker) {
    const sets: Array<Record<string, string>> = [{ [LABELS.managed]: 'true' }, { [LABELS.fleet]: 'queue' }];
    for (const labels of sets) {
      const found = await listLabelled(docker, labels);
      result.containers += found.containers.length;
      result.networks += found.networks.length;
      result.volumes += found.volumes.length;
      if (!dryRun) await removeResources(docker, found);
    }
    if (result.containers + result.networks + result.volumes > 0)
      say(`${result.containers} container(s), ${result.networks} network(s), ${result.volumes} volume(s)`);
    await removeImages(docker, dryRun, result, say);
  }

  if (findExecutable('iptables') && isRoot()) {
    result.firewall = true;
    if (!dryRun) {
      const { removeQueueFence } = await import('../../adapters/firewall.js');
      await removeQueueFence();
    }
  }

  if (plan.packages.length > 0) {
    say(`OS packages berth installed: ${plan.packages.join(', ')}`);
    if (!dryRun) {
      if (plan.packages.includes('docker.io')) result.engineStopped = await stopDockerd();
      await purgePackages(plan.packages, paths.log('uninstall'));
    }
  }
  if (plan.plugin) {
    say(`the Compose plugin berth installed: ${plan.plugin}`);
    if (!dryRun) removeFile(plan.plugin);
  }

  const saved = savedFleetWork(paths);
  if (saved.length > 0) {
    const keep = `${paths.root}.saved-${stamp(now())}`;
    result.savedWork = keep;
    progress(`${dryRun ? 'would keep' : 'keeping'} ${saved.length} saved patch folder(s) in ${keep}`);
    if (!dryRun) for (const { repo, folder } of saved) moveFile(folder, join(keep, repo));
  }
  const leases = join(leasesDir(env), 'leases.json');
  for (const folder of [paths.root, ...(leasesDir(env) === paths.root ? [] : [leases])]) {
    if (!exists(folder)) continue;
    say(folder);
    result.folders.push(folder);
    if (!dryRun) removeTree(folder);
  }
  return result;
}

async function reachEngine(
  dryRun: boolean,
  paths: HostPaths,
  progress: (message: string) => void,
  env: NodeJS.ProcessEnv,
): Promise<{ docker?: Engine; engine: HostUninstallResult['engine'] }> {
  const endpoint = engineEndpoint(env);
  const docker = connect(endpoint);
  try {
    await engineVersion(docker);
    return { docker, engine: 'answered' };
  } catch (error) {
    const local = endpoint.kind === 'unix' && endpoint.path === DEFAULT_SOCKET;
    const code = connectionErrorCode(error);
    // No engine on this host at all: nothing of berth's can be in one.
    if (local && !findDockerd() && (code === 'ENOENT' || code === 'ECONNREFUSED'))
      return { engine: 'absent' };
    if (local && dryRun && runningDockerd() === undefined && findDockerd()) {
      progress('the engine is stopped: a dry run does not start it, so its images are not listed');
      return { engine: 'stopped' };
    }
    if (local && !dryRun && isRoot() && runningDockerd() === undefined) {
      // Installed but stopped: start it, or berth's images would stay in its folder.
      const started = await ensureEngine({ install: false, paths, progress, env });
      return { docker: started.docker, engine: 'started' };
    }
    throw new EnvironmentError(
      'engine-unreachable',
      `the Docker engine does not answer (${code ?? messageOf(error)}): berth's images and containers in it cannot be removed`,
      { hint: 'start it (berth host init), then run berth host uninstall again' },
    );
  }
}

/**
 * Every agent, warm pool member and fleet queue on this host: found through the host's leases (each names
 * its repository's berth folder), through the compose files named on berth's containers (a stack whose
 * leases are in another store), and through the fleet's repository caches.
 */
async function agentsOnHost(paths: HostPaths, env: NodeJS.ProcessEnv, docker?: Engine): Promise<HostAgent[]> {
  const berthDirs = new Set<string>(hostBerthFolders(env));
  for (const name of listDir(paths.fleetRepos)) berthDirs.add(join(paths.fleetRepos, name, '.git', 'berth'));
  const queues: HostAgent[] = [];
  if (docker) {
    const labelled = await listLabelled(docker, { [LABELS.managed]: 'true' });
    for (const container of labelled.containers) {
      const file = container.labels['com.docker.compose.project.config_files'];
      // <berth folder>/agents/<name>/compose.yaml, or <berth folder>/pool/<id>/compose.yaml
      if (file) berthDirs.add(dirname(dirname(dirname(file))));
    }
    const fleet = await listLabelled(docker, { [LABELS.fleet]: 'queue' });
    for (const container of fleet.containers)
      queues.push({ kind: 'queue', name: container.id.slice(0, 12), repo: 'the fleet queue on this host' });
  }
  const found: HostAgent[] = [];
  for (const dir of [...berthDirs].sort()) {
    if (!exists(join(dir, 'state.json'))) continue;
    const repo = repositoryOf(dir);
    let state: ReturnType<typeof readState>;
    try {
      state = readState(dir);
    } catch (error) {
      found.push({ kind: 'agent', name: '(unreadable state)', repo: `${repo}: ${messageOf(error)}` });
      continue;
    }
    for (const name of Object.keys(state.agents).sort()) found.push({ kind: 'agent', name, repo });
    for (const id of Object.keys(state.pool ?? {}).sort()) found.push({ kind: 'pool', name: id, repo });
  }
  return [...found, ...queues];
}

async function removeHostAgent(
  agent: HostAgent,
  docker: Engine | undefined,
  env: NodeJS.ProcessEnv,
  progress: (message: string) => void,
): Promise<string | undefined> {
  if (agent.kind === 'queue') return undefined; // its container and volume go with the fleet label
  if (agent.kind === 'pool') {
    await drainPool({ repo: agent.repo, runtime: { env } });
    return undefined;
  }
  if (!docker) return undefined;
  const removed = await teardown({
    repo: agent.repo,
    name: agent.name,
    force: true,
    progress,
    runtime: { env },
  });
  return removed.savedPatch ? `uncommitted work saved to ${removed.savedPatch}` : undefined;
}

/**
 * berth's images (plan/uninstall.ts says which), newest first so that an image goes before the one it was
 * built on. One someone built on berth's stays, and keeps its parent: both are said.
 */
async function removeImages(
  docker: Engine,
  dryRun: boolean,
  result: HostUninstallResult,
  say: (message: string) => void,
) {
  for (const image of await listAllImages(docker)) {
    const verdict = imageVerdict(image, [LABEL_IMAGE, LABELS.managed]);
    if (verdict === 'unrelated') continue;
    const name = image.tags[0] ?? image.id.replace(/^sha256:/, '').slice(0, 12);
    if (verdict === 'foreign') {
      result.keptImages.push({
        image: image.tags.join(', '),
        reason: 'not berth`s (built on an image of berth`s)',
      });
      continue;
    }
    if (!dryRun) {
      const refused = await removeImageById(docker, image.id);
      if (refused) {
        result.keptImages.push({ image: name, reason: refused });
        continue;
      }
    }
    result.images.push(name);
  }
  if (result.images.length > 0) say(`${result.images.length} image(s): ${result.images.join(', ')}`);
}

/** Fleet work the host saved as patches (in its repository caches), which must outlive berth's folder. */
function savedFleetWork(paths: HostPaths): Array<{ repo: string; folder: string }> {
  return listDir(paths.fleetRepos)
    .map((repo) => ({ repo, folder: join(paths.fleetRepos, repo, '.git', 'berth', 'saved') }))
    .filter(({ folder }) => listDir(folder).length > 0);
}

function agentsExist(agents: HostAgent[]): BerthError {
  const repos = new Set(agents.map((a) => a.repo));
  return new BerthError(
    'agents-exist',
    `${agents.length} agent(s), pool member(s) or queue(s) exist on this host, in ${repos.size} place(s)`,
    {
      hint: 'tear them down (berth teardown, berth pool drain, berth fleet queue --stop), or pass --force to tear each down as teardown --force does (saving uncommitted work as patches)',
      details: agents.map((a) => `${a.kind} ${a.name} (${a.repo})`),
    },
  );
}
