import { type BerthError, UsageError } from '../errors.js';
import { type AgentRecord, sameProcess } from './agent.js';

/** Why a live agent cannot be claimed now, as an error for the command that asked; undefined if it can. */
export function claimRefusal(
  agent: AgentRecord,
  isRunning: (process: NonNullable<AgentRecord['owner']>) => boolean,
  self: NonNullable<AgentRecord['owner']>,
): BerthError | undefined {
  if (agent.status === 'removing' && agent.removal && isRunning(agent.removal.by)) {
    if (sameProcess(agent.removal.by, self)) return undefined;
    return beingRemoved(agent);
  }
  if (agent.status === 'provisioning' && agent.owner && isRunning(agent.owner)) {
    return new UsageError(
      'agent-provisioning',
      `agent ${agent.name} is still being provisioned (pid ${agent.owner.pid})`,
      {
        hint: 'wait for its provision to finish (berth ls), then try again',
      },
    );
  }
  return undefined;
}

export function beingRemoved(agent: AgentRecord): UsageError {
  return new UsageError(
    'agent-being-removed',
    `agent ${agent.name} is being removed (${agent.removal?.reason ?? 'by berth'})`,
    {
      hint: 'wait until it is gone (berth ls shows it meanwhile)',
    },
  );
}
