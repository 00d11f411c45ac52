import type { BerthConfig } from '../../config/schema.js';
import type { AgentRecord } from '../../plan/agent.js';
import { type HostFacts, planCompose } from '../../plan/compose.js';
import { behindEgress } from '../../plan/egress-compose.js';
import type { RepoContext } from '../context.js';
import { egressFiles } from './egress.js';

/**
 * The compose document of an agent, as planned from its record, its config and the host: the one
 * description of its stack, behind its egress proxy when it has one. Provision writes it; `db reset`
 * plans it again for a Postgres on another image.
 */
export function agentDocument(
  context: RepoContext,
  agent: AgentRecord,
  config: BerthConfig,
  host: HostFacts,
): Record<string, unknown> {
  const document = planCompose(agent, config, host);
  return agent.egress ? behindEgress(document, agent, config, egressFiles(context, agent.name)) : document;
}
