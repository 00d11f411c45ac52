import { describe, expect, it } from 'vitest';
import * as berth from '../../src/index.js';

describe('the library entry', () => {
  it('exports the operations the CLI runs', () => {
    for (const name of [
      'hostInit',
      'provision',
      'listAgents',
      'execInAgent',
      'agentEnvText',
      'teardown',
      'up',
      'upTasks',
      'heartbeat',
      'gc',
      'runTask',
      'completeTask',
      'sync',
      'show',
      'hookLogs',
      'loadConfig',
      'jsonSchema',
    ]) {
      expect(typeof (berth as Record<string, unknown>)[name], name).toBe('function');
    }
  });
});
