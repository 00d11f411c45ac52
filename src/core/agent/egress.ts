import { execInContainer, listContainers, subnetsOfLabelled } from '../../adapters/docker.js';
import { ensureDir, ensureOwnedDir, writeFile, writeFileAtomic } from '../../adapters/files.js';
import { hostAddresses } from '../../adapters/host-net.js';
import type { BerthConfig } from '../../config/schema.js';
import type { ResultOf } from '../../contract.js';
import { BerthError, EnvironmentError, UsageError } from '../../errors.js';
import type { AgentRecord } from '../../plan/agent.js';
import {
  AGENT_RESOLV_CONF,
  addressesOf,
  parseEgressList,
  planAgentHosts,
  planForwards,
  planSquidConf,
  renderForwards,
  tcpEntries,
} from '../../plan/egress.js';
import { type EgressFiles, PROXY_LOG_DIR, proxyUser } from '../../plan/egress-compose.js';
import { LABELS, serviceLabels, validateAgentName } from '../../plan/names.js';
import {
  currentAgentConfig,
  openRepo,
  type RepoContext,
  type RepoOptions,
  requireAgent,
} from '../context.js';

/** The host files of an agent's egress proxy. */
export function egressFiles(context: RepoContext, name: string): EgressFiles {
  return {
    confDir: context.paths.egressDir(name),
    logDir: context.paths.egressLogDir(name),
    hosts: context.paths.agentHosts(name),
    resolvConf: context.paths.agentResolvConf(name),
  };
}

/** The proxy's decisions, one JSON line each. */
export function egressLog(context: RepoContext, name: string): string {
  return `${context.paths.egressLogDir(name)}/access.log`;
}

/**
 * Writes what the proxy and the agent read: squid.conf and the forwarders (each replaced whole, so the
 * proxy never reads half of one), and the agent's /etc/hosts (rewritten in place: the container has it
 * mounted, and a file replaced by a rename would not be the one it sees). The refused addresses are
 * the host's and berth's networks as they are now.
 */
export async function writeEgressFiles(
  context: RepoContext,
  agent: AgentRecord,
  config: BerthConfig,
): Promise<{ allow: string[]; tcp: string[] }> {
  const files = egressFiles(context, agent.name);
  const entries = parseEgressList(config.network.egress?.allow ?? []);
  const berthSubnets = await subnetsOfLabelled(context.docker, { [LABELS.managed]: 'true' });
  const own = new Set([agent.subnet, agent.publishSubnet]);
  const squid = planSquidConf({
    agent: agent.name,
    entries,
    addresses: addressesOf(agent),
    hostAddresses: hostAddresses().map((entry) => entry.address),
    berthSubnets: [config.network.subnetPool, ...berthSubnets.filter((subnet) => !own.has(subnet))],
    logDir: PROXY_LOG_DIR,
  });
  ensureDir(files.confDir, 0o755);
  writeFileAtomic(`${files.confDir}/squid.conf`, squid, 0o644);
  writeFileAtomic(`${files.confDir}/forwards`, renderForwards(planForwards(agent, entries)), 0o644);
  writeFile(files.hosts, planAgentHosts(agent, entries), 0o644);
  writeFile(files.resolvConf, AGENT_RESOLV_CONF, 0o644);
  // The proxy writes its logs as its own user: the folder must be that user's.
  const user = proxyUser(agent);
  ensureOwnedDir(files.logDir, user.uid, user.gid);
  return {
    allow: entries.map((entry) => entry.text),
    tcp: tcpEntries(entries).map((entry) => `${entry.host}:${entry.port}`),
  };
}

async function proxyContainer(context: RepoContext, agent: AgentRecord): Promise<string> {
  const containers = await listContainers(context.docker, serviceLabels(agent, 'egress'));
  const running = containers.find((container) => container.state === 'running');
  if (!running)
    throw new EnvironmentError(
      'egress-not-running',
      `the egress proxy of agent ${agent.name} is not running`,
      {
        hint: `see \`berth ls\`; start it with docker compose -p ${agent.composeProject} -f ${agent.composeFile} up -d`,
      },
    );
  return running.id;
}

/** Rewrites the proxy's files from `config` and has the running proxy apply them. */
export async function applyEgress(
  context: RepoContext,
  agent: AgentRecord,
  config: BerthConfig,
): Promise<ResultOf<'egress reload'>> {
  if (!config.network.egress) {
    throw new UsageError(
      'egress-removed',
      `berth.yaml no longer sets network.egress for agent ${agent.name}`,
      {
        hint: 'its proxy keeps the list it has; to take it off the proxy, provision it again',
      },
    );
  }
  const applied = await writeEgressFiles(context, agent, config);
  const reload = await execInContainer(context.docker, await proxyContainer(context, agent), [
    'berth-egress-reload',
  ]);
  if (reload.exitCode !== 0)
    throw new BerthError(
      'egress-reload-failed',
      `the egress proxy of ${agent.name} refused the new list: ${reload.stderr.trim().split('\n')[0] ?? ''}`,
      { hint: `its log: ${context.paths.egressLogDir(agent.name)}/cache.log` },
    );
  return { name: agent.name, ...applied };
}

/** `berth egress reload NAME`: the list in berth.yaml, applied to the running agent's proxy. */
export async function reloadEgress(
  options: RepoOptions & { name: string; configPath?: string },
): Promise<ResultOf<'egress reload'>> {
  const context = await openRepo(options);
  const agent = requireAgent(context, validateAgentName(options.name));
  if (!agent.egress) {
    throw new UsageError('no-egress', `agent ${agent.name} was provisioned without network.egress`, {
      hint: 'an agent is put behind the proxy when it is made: tear it down and provision it again',
    });
  }
  // berth.yaml as the trusted working tree has it now (never the agent's), kept as its copy once applied.
  const { config, keep } = currentAgentConfig(context, agent, options.configPath);
  const applied = await applyEgress(context, agent, config);
  keep();
  return applied;
}
