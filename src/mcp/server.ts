import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { errorLine } from '../cli/output.js';
import { dbReset, dbSnapshot } from '../core/agent/db.js';
import { agentDiff } from '../core/agent/diff.js';
import { execCaptured } from '../core/agent/exec.js';
import { heartbeat } from '../core/agent/lease.js';
import { listAgents, show } from '../core/agent/list.js';
import { logTails, serviceLogTail } from '../core/agent/logs.js';
import { provision } from '../core/agent/provision.js';
import { sync } from '../core/agent/sync.js';
import { teardown } from '../core/agent/teardown.js';
import { gc } from '../core/gc.js';
import { completeTask } from '../core/task/run.js';

export interface McpOptions {
  /** The one repository this server acts on: no tool takes another. */
  repo: string;
  showSecrets?: boolean;
  version: string;
}

const name = z.string().describe('the agent`s name');

type Extra = {
  _meta?: { progressToken?: string | number };
  sendNotification: (notification: {
    method: 'notifications/progress';
    params: { progressToken: string | number; progress: number; message?: string };
  }) => Promise<void>;
};

/** Progress lines of a long call, as MCP progress notifications when the client asked for them. */
function progressOf(extra: Extra): (message: string) => void {
  const token = extra._meta?.progressToken;
  let step = 0;
  return (message) => {
    if (token === undefined) return;
    step += 1;
    void extra
      .sendNotification({
        method: 'notifications/progress',
        params: { progressToken: token, progress: step, message },
      })
      .catch(() => {});
  };
}

async function answer(work: () => Promise<object>) {
  try {
    const result = await work();
    return {
      content: [{ type: 'text' as const, text: JSON.stringify(result, null, 2) }],
      structuredContent: result as Record<string, unknown>,
    };
  } catch (error) {
    return { isError: true, content: [{ type: 'text' as const, text: errorLine(error) }] };
  }
}

/** berth's operations as MCP tools: each a thin call of the library function the CLI runs. */
export function berthMcpServer(options: McpOptions): McpServer {
  const server = new McpServer({ name: 'berth', version: options.version });
  const repo = options.repo;
  const showSecrets = options.showSecrets ?? false;
  const tool = <Shape extends z.ZodRawShape>(
    id: string,
    description: string,
    input: Shape,
    run: (args: z.infer<z.ZodObject<Shape>>, extra: Extra) => Promise<object>,
  ) =>
    server.registerTool(id, { description, inputSchema: input }, ((args: never, extra: Extra) =>
      answer(() => run(args, extra))) as never);

  tool(
    'provision',
    'give an agent its own git worktree, container, Postgres and Redis, and run its setup hooks',
    {
      name,
      from: z.string().optional().describe('the commit its branch starts from'),
      branch: z.string().optional(),
    },
    (args, extra) => provision({ ...args, repo, showSecrets, progress: progressOf(extra) }),
  );
  tool('list', 'the agents of this repository, with state, ports and last task', {}, async () => ({
    agents: await listAgents({ repo, showSecrets }),
  }));
  tool('show', 'one agent: its state, ports, URLs, lease and last task outcome', { name }, (args) =>
    show({ ...args, repo, showSecrets }),
  );
  tool(
    'teardown',
    'remove an agent`s stack and worktree; refuses uncommitted work unless force (then saves it as a patch)',
    { name, force: z.boolean().optional(), keepBranch: z.boolean().optional() },
    (args, extra) => teardown({ ...args, repo, progress: progressOf(extra) }),
  );
  tool(
    'gc',
    'remove what crashed or finished agents left',
    { dryRun: z.boolean().optional() },
    (args, extra) => gc({ ...args, repo, progress: progressOf(extra) }),
  );
  tool(
    'exec',
    'run a command (an argument list) in the agent`s container, in its worktree; output truncated to its last 64 KiB, the whole in logFile',
    {
      name,
      command: z.array(z.string()).min(1).describe('the program and its arguments'),
      timeoutSeconds: z.number().int().positive().max(86_400).optional(),
    },
    (args) =>
      execCaptured({
        name: args.name,
        repo,
        command: args.command,
        ...(args.timeoutSeconds && { timeoutMs: args.timeoutSeconds * 1000 }),
      }),
  );
  tool(
    'logs',
    'the last lines of an agent`s hook logs, or of one of its containers (agent, postgres, redis)',
    {
      name,
      hook: z.string().optional().describe('one hook`s log: setup, migrate, seed, teardown'),
      service: z.enum(['agent', 'postgres', 'redis']).optional(),
      tail: z.number().int().positive().max(10_000).optional().describe('lines of a container`s log'),
    },
    (args) =>
      args.service
        ? serviceLogTail({ repo, name: args.name, service: args.service, lines: args.tail ?? 200 })
        : logTails({ repo, name: args.name, ...(args.hook && { hook: args.hook }) }),
  );
  tool(
    'diff',
    'the agent`s branch against its base: commits and diff stat, and the patch (at most 64 KiB) if asked',
    { name, patch: z.boolean().optional() },
    (args) => agentDiff({ ...args, repo }),
  );
  tool('sync', 'fetch, rebase the agent`s branch on its base, run its setup hooks again', { name }, (args) =>
    sync({ ...args, repo }),
  );
  tool('heartbeat', 'renew the agent`s lease', { name }, (args) => heartbeat({ ...args, repo }));
  tool(
    'complete',
    'mark the agent`s task complete and apply the exit policy',
    { name, onExit: z.enum(['keep', 'teardown', 'teardown-if-merged']).optional() },
    (args, extra) => completeTask({ ...args, repo, progress: progressOf(extra) }),
  );
  tool(
    'db_reset',
    'put the agent`s database back to its base`s template; drops its connections',
    { name },
    (args, extra) => dbReset({ ...args, repo, progress: progressOf(extra) }),
  );
  tool(
    'db_snapshot',
    'save the agent`s database as it is now, under a label',
    { name, label: z.string().optional() },
    (args, extra) => dbSnapshot({ ...args, repo, progress: progressOf(extra) }),
  );
  return server;
}
