import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { resultSchemas, toolResultSchemas } from '../contract.js';
import { dbReset, dbRestore, dbSnapshot, dbSnapshots } from '../core/agent/db.js';
import { agentDiff } from '../core/agent/diff.js';
import { execCaptured } from '../core/agent/exec.js';
import { heartbeat } from '../core/agent/heartbeat.js';
import { listAgents, show } from '../core/agent/list.js';
import { logTails, serviceLogTail } from '../core/agent/logs.js';
import { provision } from '../core/agent/provision.js';
import { sync } from '../core/agent/sync.js';
import { teardown } from '../core/agent/teardown.js';
import { listWorktreeFiles, readWorktreeFile, writeWorktreeFile } from '../core/agent/worktree-files.js';
import { gc } from '../core/gc.js';
import { completeTask } from '../core/task/task.js';
import { errorLine } from '../errors.js';

export interface McpOptions {
  /** The one repository this server acts on: no tool takes another. */
  repo: string;
  showSecrets?: boolean;
  version: string;
}

const name = z.string().describe('the agent`s name');
const path = z
  .string()
  .describe('a path relative to the agent`s worktree; no .., no absolute path, no symlink');

type Extra = {
  /** Aborted when the client cancels the call (notifications/cancelled) or goes away. */
  signal: AbortSignal;
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

/** What a tool does to the world, for clients deciding what to confirm (MCP's tool annotations). */
const READS: ToolAnnotations = { readOnlyHint: true, openWorldHint: false };
const changes = (hints: {
  destructive: boolean;
  idempotent: boolean;
  /** It runs the repository's own commands (hooks) or the caller's, or talks to its remotes. */
  openWorld: boolean;
}): ToolAnnotations => ({
  readOnlyHint: false,
  destructiveHint: hints.destructive,
  idempotentHint: hints.idempotent,
  openWorldHint: hints.openWorld,
});

export interface BerthMcp {
  server: McpServer;
  /** Resolves once no tool call is running: every cancelled one has stopped and rolled back. */
  settled: () => Promise<void>;
}

/** berth's operations as MCP tools: each a thin call of the library function the CLI runs. */
export function berthMcpServer(options: McpOptions): BerthMcp {
  const server = new McpServer({ name: 'berth', version: options.version });
  const repo = options.repo;
  const showSecrets = options.showSecrets ?? false;
  const running = new Set<Promise<unknown>>();
  const tool = <Shape extends z.ZodRawShape>(
    id: string,
    spec: {
      title: string;
      description: string;
      input: Shape;
      output: z.ZodObject;
      annotations: ToolAnnotations;
    },
    run: (args: z.infer<z.ZodObject<Shape>>, extra: Extra) => Promise<object>,
  ) =>
    server.registerTool(
      id,
      {
        title: spec.title,
        description: spec.description,
        inputSchema: spec.input,
        outputSchema: spec.output,
        annotations: { title: spec.title, ...spec.annotations },
      },
      ((args: never, extra: Extra) => {
        const call = answer(() => run(args, extra));
        running.add(call);
        void call.finally(() => running.delete(call));
        return call;
      }) as never,
    );

  tool(
    'provision',
    {
      title: 'Provision an agent',
      description:
        'give an agent its own git worktree, container, Postgres and Redis, and run its setup hooks; cancelling it rolls back what it made',
      input: {
        name,
        from: z.string().optional().describe('the commit its branch starts from'),
        branch: z.string().optional(),
        devcontainer: z
          .string()
          .optional()
          .describe(
            "a devcontainer.json in the repository (its path from the repository's root) to take the agent container from; default: berth.yaml's, else .devcontainer/devcontainer.json when there is one",
          ),
      },
      output: resultSchemas.provision,
      annotations: changes({ destructive: false, idempotent: false, openWorld: true }),
    },
    async (args, extra) => ({
      agent: await provision({
        ...args,
        repo,
        showSecrets,
        progress: progressOf(extra),
        signal: extra.signal,
      }),
    }),
  );
  tool(
    'list',
    {
      title: 'List agents',
      description: 'the agents of this repository, with state, ports and last task',
      input: {},
      output: resultSchemas.ls,
      annotations: READS,
    },
    async () => ({ agents: await listAgents({ repo, showSecrets }) }),
  );
  tool(
    'show',
    {
      title: 'Show an agent',
      description: 'one agent: its state, ports, URLs, expiry and last task outcome',
      input: { name },
      output: resultSchemas.show,
      annotations: READS,
    },
    (args) => show({ ...args, repo, showSecrets }),
  );
  tool(
    'teardown',
    {
      title: 'Tear an agent down',
      description:
        'remove an agent`s stack and worktree; refuses uncommitted work unless force (then saves it as a patch)',
      input: { name, force: z.boolean().optional(), keepBranch: z.boolean().optional() },
      output: resultSchemas.teardown,
      annotations: changes({ destructive: true, idempotent: true, openWorld: false }),
    },
    (args, extra) => teardown({ ...args, repo, progress: progressOf(extra) }),
  );
  tool(
    'gc',
    {
      title: 'Collect garbage',
      description: 'remove what crashed or finished agents left',
      input: { dryRun: z.boolean().optional() },
      output: resultSchemas.gc,
      annotations: changes({ destructive: true, idempotent: true, openWorld: false }),
    },
    (args, extra) => gc({ ...args, repo, progress: progressOf(extra) }),
  );
  tool(
    'exec',
    {
      title: 'Run a command in an agent',
      description:
        'run a command (an argument list) in the agent`s container, in its worktree; output truncated to its last 64 KiB, the whole in logFile; cancelling it stops the command in the container',
      input: {
        name,
        command: z.array(z.string()).min(1).describe('the program and its arguments'),
        timeoutSeconds: z.number().int().positive().max(86_400).optional(),
      },
      output: resultSchemas.exec,
      annotations: changes({ destructive: true, idempotent: false, openWorld: true }),
    },
    (args, extra) =>
      execCaptured({
        name: args.name,
        repo,
        command: args.command,
        signal: extra.signal,
        ...(args.timeoutSeconds && { timeoutMs: args.timeoutSeconds * 1000 }),
      }),
  );
  tool(
    'logs',
    {
      title: "Read an agent's logs",
      description:
        'the last lines of an agent`s hook logs, of its egress proxy`s decisions, or of one of its containers (agent, postgres, redis, egress)',
      input: {
        name,
        hook: z.string().optional().describe('one hook`s log: setup, migrate, seed, teardown'),
        egress: z
          .boolean()
          .optional()
          .describe(
            'the egress proxy`s decisions, one JSON line each (time, agent, method, host, port, decision, reason)',
          ),
        service: z.enum(['agent', 'postgres', 'redis', 'egress']).optional(),
        tail: z.number().int().positive().max(10_000).optional().describe('lines of a container`s log'),
      },
      output: toolResultSchemas.logs,
      annotations: READS,
    },
    (args) =>
      args.service
        ? serviceLogTail({ repo, name: args.name, service: args.service, lines: args.tail ?? 200 })
        : logTails({
            repo,
            name: args.name,
            ...(args.hook && { hook: args.hook }),
            ...(args.egress && { egress: true }),
          }),
  );
  tool(
    'diff',
    {
      title: "Diff an agent's branch",
      description:
        'the agent`s branch against its base: commits and diff stat, and the patch (at most 64 KiB) if asked',
      input: { name, patch: z.boolean().optional() },
      output: toolResultSchemas.diff,
      annotations: READS,
    },
    (args) => agentDiff({ ...args, repo }),
  );
  tool(
    'sync',
    {
      title: "Sync an agent's branch",
      description: 'fetch, rebase the agent`s branch on its base, run its setup hooks again',
      input: { name },
      output: resultSchemas.sync,
      annotations: changes({ destructive: true, idempotent: false, openWorld: true }),
    },
    (args) => sync({ ...args, repo }),
  );
  tool(
    'heartbeat',
    {
      title: "Renew an agent's time to live",
      description: 'renew the agent`s time to live (its expiry moves to ttl from now)',
      input: { name },
      output: resultSchemas.heartbeat,
      annotations: changes({ destructive: false, idempotent: true, openWorld: false }),
    },
    (args) => heartbeat({ ...args, repo }),
  );
  tool(
    'complete',
    {
      title: "Complete an agent's task",
      description: 'mark the agent`s task complete and apply the exit policy',
      input: { name, onExit: z.enum(['keep', 'teardown', 'teardown-if-merged']).optional() },
      output: resultSchemas.complete,
      annotations: changes({ destructive: true, idempotent: false, openWorld: false }),
    },
    (args, extra) => completeTask({ ...args, repo, progress: progressOf(extra) }),
  );
  tool(
    'db_reset',
    {
      title: "Reset an agent's database",
      description: 'put the agent`s database back to its base`s template; drops its connections',
      input: { name },
      output: resultSchemas['db reset'],
      annotations: changes({ destructive: true, idempotent: true, openWorld: true }),
    },
    (args, extra) => dbReset({ ...args, repo, progress: progressOf(extra), signal: extra.signal }),
  );
  tool(
    'db_snapshot',
    {
      title: "Snapshot an agent's database",
      description:
        'save the agent`s database as it is now, under a label; drops its connections. A label the agent used already is refused unless force, which replaces that snapshot',
      input: {
        name,
        label: z.string().optional(),
        force: z.boolean().optional().describe('replace the snapshot of that label, if there is one'),
      },
      output: resultSchemas['db snapshot'],
      annotations: changes({ destructive: true, idempotent: false, openWorld: false }),
    },
    (args, extra) => dbSnapshot({ ...args, repo, progress: progressOf(extra), signal: extra.signal }),
  );
  tool(
    'db_restore',
    {
      title: "Restore an agent's database",
      description: 'put the agent`s database back to one of its snapshots; drops its connections',
      input: { name, label: z.string().describe('the snapshot, as db_snapshots lists it') },
      output: resultSchemas['db restore'],
      annotations: changes({ destructive: true, idempotent: true, openWorld: false }),
    },
    (args, extra) => dbRestore({ ...args, repo, progress: progressOf(extra), signal: extra.signal }),
  );
  tool(
    'db_snapshots',
    {
      title: "List an agent's database snapshots",
      description: 'the snapshots of the agent`s database, oldest first',
      input: { name },
      output: resultSchemas['db snapshots'],
      annotations: READS,
    },
    async (args) => ({ name: args.name, snapshots: await dbSnapshots({ ...args, repo }) }),
  );
  tool(
    'read_file',
    {
      title: "Read a file of an agent's worktree",
      description:
        'a file of the agent`s worktree (at most 1 MiB): as text when it is UTF-8, else as base64; the agent`s passwords and secret values read as *** unless the server runs with --show-secrets; symlinks are refused',
      input: {
        name,
        path,
        encoding: z.enum(['utf8', 'base64']).optional().describe('base64 to have the bytes as they are'),
      },
      output: toolResultSchemas['file read'],
      annotations: READS,
    },
    (args) => readWorktreeFile({ ...args, repo, showSecrets }),
  );
  tool(
    'write_file',
    {
      title: "Write a file of an agent's worktree",
      description:
        'write (or replace) a file of the agent`s worktree, making its folders; owned by the agent`s user; symlinks are refused',
      input: {
        name,
        path,
        content: z.string(),
        encoding: z.enum(['utf8', 'base64']).optional().describe('how content is given (default utf8)'),
      },
      output: toolResultSchemas['file write'],
      annotations: changes({ destructive: true, idempotent: true, openWorld: false }),
    },
    (args) => writeWorktreeFile({ ...args, repo }),
  );
  tool(
    'list_files',
    {
      title: "List a folder of an agent's worktree",
      description:
        'the entries of a folder of the agent`s worktree (its root by default); symlinks shown, not followed',
      input: { name, path: path.optional() },
      output: toolResultSchemas['file list'],
      annotations: READS,
    },
    (args) => listWorktreeFiles({ ...args, repo }),
  );

  const settled = async () => {
    while (running.size > 0) await Promise.allSettled([...running]);
  };
  return { server, settled };
}
