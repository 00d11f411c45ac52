import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Every file and folder berth writes, named in one place. Nothing here creates anything: the file
 * helpers (adapters/files.ts) create a folder on the first write into it.
 */

/** berth's host-wide folder: BERTH_HOME, else /var/lib/berth for root, else the user's XDG state folder. */
export function hostStateDir(env: NodeJS.ProcessEnv, uid = process.getuid?.()): string {
  if (env.BERTH_HOME) return env.BERTH_HOME;
  if (uid === 0) return '/var/lib/berth';
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'berth');
}

export interface HostPaths {
  root: string;
  logs: string;
  /** logs/<name>.log: installs and image builds. */
  log: (name: string) => string;
  dockerdLog: string;
  /** Which Compose host init found (probing Compose v1 costs a Python start). */
  composeCache: string;
  /** Scratch folders for image builds. */
  build: string;
  /** The embedded fleet queue on this host: its password and address, by port. */
  fleetQueue: (port: number) => string;
  /** The fleet worker's clones of tasks' repositories: one per repository, kept and fetched. */
  fleetRepos: string;
  /** The fleet worker running on this host (one at a time): its process. */
  fleetWorker: string;
  /** The berth.yaml a fleet task's attempt runs with (from the worker's config or the default branch). */
  fleetTaskConfig: (attempt: string) => string;
  /** Where a task's berth.yaml is fetched to be checked (removed once read). */
  fleetConfigCheck: (attempt: string) => string;
  /** This host's id in the fleet: a worker restarted here may take back its name at once. */
  fleetHostId: string;
  /** Package managers' caches shared by one user's agents (npm, pnpm, yarn, pip), by uid. */
  packageCache: (uid: number) => string;
  /** What `host init --install` installed on this host (OS packages, the Compose plugin): uninstall's list. */
  installRecord: string;
  /** The file `berth ui --open` hands the desktop's opener: it redirects to the page with its token. */
  uiOpener: (port: number) => string;
}

export function hostPaths(env: NodeJS.ProcessEnv): HostPaths {
  const root = hostStateDir(env);
  const logs = join(root, 'logs');
  return {
    root,
    logs,
    log: (name) => join(logs, `${name}.log`),
    dockerdLog: join(root, 'dockerd.log'),
    composeCache: join(root, 'compose.json'),
    build: join(root, 'build'),
    fleetQueue: (port) => join(root, 'fleet', `queue-${port}.json`),
    fleetRepos: join(root, 'fleet', 'repos'),
    fleetWorker: join(root, 'fleet', 'worker.json'),
    fleetTaskConfig: (attempt) => join(root, 'fleet', 'configs', `${attempt}.yaml`),
    fleetConfigCheck: (attempt) => join(root, 'fleet', 'configs', `${attempt}.check.git`),
    fleetHostId: join(root, 'fleet', 'host-id'),
    packageCache: (uid) => join(root, 'package-cache', String(uid)),
    installRecord: join(root, 'installed.json'),
    uiOpener: (port) => join(root, 'ui', `open-${port}.html`),
  };
}

/**
 * The lock around changes to the fleet's iptables chains: host-wide like the chains themselves, whatever
 * berth home each worker or queue uses.
 */
export const FENCE_LOCK = { dir: '/run/berth', name: 'fleet-fence.lock' } as const;

/** berth's folder in a repository's common git directory, shared by all its worktrees. */
export function berthDir(commonGitDir: string): string {
  return join(commonGitDir, 'berth');
}

/** The repository a berth folder belongs to: the main working tree, the parent of its `.git`. */
export function repositoryOf(berthFolder: string): string {
  const common = dirname(berthFolder);
  return common.endsWith('/.git') ? dirname(common) : common;
}

/** A log named for what wrote it (provision, a hook, containers) in a logs folder: <folder>/<source>.log. */
export function namedLog(folder: string, source: string): string {
  return join(folder, `${source}.log`);
}

/** A file-system-safe stamp of a moment, for file names. */
export function stamp(at: number): string {
  return new Date(at).toISOString().replace(/[:.]/g, '-');
}

export interface RepoPaths {
  berthDir: string;
  stateFile: string;
  /** The last good state.json, kept beside it for recovery. */
  stateBackup: string;
  agentDir: (name: string) => string;
  composeFile: (name: string) => string;
  /** The berth.yaml an agent was made with, copied at its provision: its later hooks read this. */
  agentConfig: (name: string) => string;
  /** The host's view of an agent's env (127.0.0.1 and leased ports); the worktree has the container's. */
  hostEnvFile: (name: string) => string;
  agentLogs: (name: string) => string;
  /** One of an agent's logs by what wrote it: `provision`, a hook, `containers`. */
  agentLog: (name: string, source: string) => string;
  /** The output of one captured `berth exec` (--json, MCP). */
  execLog: (name: string, at: number) => string;
  /** What checking out an agent's submodules (in its container) printed. */
  submodulesLog: (name: string) => string;
  /** An agent's egress proxy: its squid.conf and forwarders (mounted read-only in the proxy). */
  egressDir: (name: string) => string;
  /** Where the proxy writes its decisions (access.log, JSON lines) and cache.log: kept with the logs. */
  egressLogDir: (name: string) => string;
  /** The /etc/hosts and /etc/resolv.conf of an agent behind an egress proxy. */
  agentHosts: (name: string) => string;
  agentResolvConf: (name: string) => string;
  /** What outlives an agent: its logs, its task outcome and output. */
  historyDir: (name: string) => string;
  historyLogs: (name: string) => string;
  outcomeFile: (name: string) => string;
  /** Each run of a task keeps its own output: runs/<start time>.log. */
  runLog: (name: string, at: number) => string;
  runsDir: (name: string) => string;
  /** Uncommitted work saved before a removal. */
  savedPatch: (name: string, at: number) => string;
  /** Folders of the worktree that are repositories of their own, saved whole beside the patch. */
  savedRepositories: (name: string, at: number) => string;
  /** Logs of a provision that was rolled back. */
  failedLogs: (name: string, at: number) => string;
  /** The progress of the last image pull a provision needed (an image berth.yaml names that is not here). */
  pullLog: string;
  /** The log of the last build of the agent's image from the repository's Dockerfile (agent.build). */
  agentBuildLog: string;
  /** The log of the watcher of one Claude Code process (renewals, and the agents it reaped). */
  claudeWatchLog: (pid: number) => string;
  /** A warm pool member's folder, and the compose file of its stack in it. */
  poolDir: (id: string) => string;
  poolComposeFile: (id: string) => string;
}

export function repoPaths(dir: string): RepoPaths {
  const agentDir = (name: string) => join(dir, 'agents', name);
  const historyDir = (name: string) => join(dir, 'history', name);
  return {
    berthDir: dir,
    stateFile: join(dir, 'state.json'),
    stateBackup: join(dir, 'state.json.bak'),
    agentDir,
    composeFile: (name) => join(agentDir(name), 'compose.yaml'),
    agentConfig: (name) => join(agentDir(name), 'berth.yaml'),
    hostEnvFile: (name) => join(agentDir(name), 'host.env'),
    agentLogs: (name) => join(agentDir(name), 'logs'),
    agentLog: (name, source) => namedLog(join(agentDir(name), 'logs'), source),
    execLog: (name, at) => join(agentDir(name), 'logs', `exec-${stamp(at)}.log`),
    submodulesLog: (name) => join(agentDir(name), 'logs', 'submodules.log'),
    egressDir: (name) => join(agentDir(name), 'egress'),
    egressLogDir: (name) => join(agentDir(name), 'logs', 'egress'),
    agentHosts: (name) => join(agentDir(name), 'etc', 'hosts'),
    agentResolvConf: (name) => join(agentDir(name), 'etc', 'resolv.conf'),
    historyDir,
    historyLogs: (name) => join(historyDir(name), 'logs'),
    outcomeFile: (name) => join(historyDir(name), 'outcome.json'),
    runLog: (name, at) => join(historyDir(name), 'runs', `${stamp(at)}.log`),
    runsDir: (name) => join(historyDir(name), 'runs'),
    savedPatch: (name, at) => join(dir, 'saved', `${name}-${stamp(at)}.patch`),
    savedRepositories: (name, at) => join(dir, 'saved', `${name}-${stamp(at)}.repositories.tar`),
    failedLogs: (name, at) => join(dir, 'failed', `${name}-${stamp(at)}`),
    pullLog: join(dir, 'pull.log'),
    agentBuildLog: join(dir, 'agent-build.log'),
    claudeWatchLog: (pid) => join(dir, 'claude', `watch-${pid}.log`),
    poolDir: (id) => join(dir, 'pool', id),
    poolComposeFile: (id) => join(dir, 'pool', id, 'compose.yaml'),
  };
}
