import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { resultSchemas, toolResultSchemas } from '../../src/contract.js';
import { READ_FILE_BYTES } from '../../src/core/agent/worktree-files.js';
import { readLeases } from '../../src/state/leases.js';
import { readEnvFile } from '../helpers/agent.js';
import { BIN, berth, resultOf } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { leftovers, NOTHING } from '../helpers/leftovers.js';
import { asOtherUser } from '../helpers/other-user.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';
import { eventually } from '../helpers/wait.js';

/** The MCP Inspector's CLI, the pinned devDependency, run by path with the node running the tests. */
const INSPECTOR = join(
  dirname(createRequire(import.meta.url).resolve('@modelcontextprotocol/inspector/package.json')),
  'clients/launcher/build/index.js',
);

/** Every tool berth mcp serves. */
const TOOLS = [
  'complete',
  'db_reset',
  'db_restore',
  'db_snapshot',
  'db_snapshots',
  'diff',
  'exec',
  'gc',
  'heartbeat',
  'list',
  'list_files',
  'logs',
  'provision',
  'read_file',
  'show',
  'sync',
  'teardown',
  'write_file',
];

let repo: TestRepo;
/** A repository whose setup hook runs until stopped: a provision to cancel or walk away from. */
let slow: TestRepo;
let home: string;
const clients: Client[] = [];
const processes: ChildProcess[] = [];

type ToolResult = {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content: Array<{ text?: string }>;
};
type Call = (tool: string, args?: Record<string, unknown>) => Promise<ToolResult>;

/** The SDK's own client on `berth mcp`, its stderr kept. */
async function connect(
  root: string,
  as: { command: string; args: string[]; env: Record<string, string> } = {
    command: process.execPath,
    args: [BIN, 'mcp', '--repo', root],
    env: {},
  },
) {
  const client = new Client({ name: 'berth-test', version: '1.0.0' });
  const transport = new StdioClientTransport({
    command: as.command,
    args: as.args,
    env: { ...(process.env as Record<string, string>), ...as.env },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  await client.connect(transport);
  clients.push(client);
  // Listing caches each tool's output schema: from then on the client checks every result against it.
  await client.listTools();
  const call: Call = async (tool, args = {}) =>
    (await client.callTool({ name: tool, arguments: args })) as ToolResult;
  return { client, call, stderr: () => stderr };
}

/** The MCP Inspector's CLI, as a user runs it: one process per call, starting `berth mcp` itself. */
async function inspector(root: string, args: string[], server?: string[]) {
  const run = await execa(
    process.execPath,
    [
      INSPECTOR,
      '--cli',
      '--format',
      'json',
      ...(server ?? [process.execPath, BIN, 'mcp', '--repo', root]),
      ...args,
    ],
    { reject: false, env: { ...process.env, HOME: home }, stdin: 'ignore' },
  );
  return { exitCode: run.exitCode, stdout: String(run.stdout), stderr: String(run.stderr) };
}

const inspectorCall =
  (root: string): Call =>
  async (tool, args = {}) => {
    const run = await inspector(root, [
      '--method',
      'tools/call',
      '--tool-name',
      tool,
      '--tool-args-json',
      JSON.stringify(args),
    ]);
    try {
      return (JSON.parse(run.stdout) as { result: ToolResult }).result;
    } catch {
      throw new Error(`the Inspector printed no result (exit ${run.exitCode}): ${run.stdout}\n${run.stderr}`);
    }
  };

/** A tool call that must succeed, its structured content checked against the contract's schema. */
async function ok<S extends z.ZodType>(call: Call, tool: string, args: Record<string, unknown>, schema: S) {
  const result = await call(tool, args);
  expect(result.isError, `${tool}: ${result.content[0]?.text}`).toBeFalsy();
  const parsed = schema.safeParse(result.structuredContent);
  expect(parsed.success, `${tool}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
  // The text content is the same result, for clients that read only text.
  expect(JSON.parse(result.content[0]?.text ?? 'null')).toEqual(result.structuredContent);
  return parsed.data as z.output<S>;
}

async function tableExists(databaseUrl: string, table: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const found = await client.query('select to_regclass($1) as t', [table]);
    return found.rows[0]?.t !== null;
  } finally {
    await client.end();
  }
}

async function sql(databaseUrl: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query(text).finally(() => client.end());
}

/**
 * Every tool, each with a real effect checked, the same story whichever client drives it: an agent is
 * made, its files written and read, a commit made in its container, its database snapshotted and
 * restored, its task completed, and it is torn down.
 */
async function everyTool(call: Call, root: string, name: string) {
  const made = await ok(call, 'provision', { name }, resultSchemas.provision);
  expect(made.agent).toMatchObject({ name, state: 'running', health: 'ok' });
  const worktree = made.agent.worktree;
  expect(JSON.stringify(made)).not.toMatch(/postgres:\/\/[^:]+:[^*@]+@/);

  const listed = await ok(call, 'list', {}, resultSchemas.ls);
  expect(listed.agents.map((entry) => entry.name)).toContain(name);
  const shown = await ok(call, 'show', { name }, resultSchemas.show);
  expect(shown.agent?.worktree).toBe(worktree);

  const written = await ok(
    call,
    'write_file',
    { name, path: 'notes/today/todo.txt', content: 'first\n' },
    toolResultSchemas['file write'],
  );
  expect(written).toEqual({ name, path: 'notes/today/todo.txt', size: 6, created: true });
  expect(readFileSync(join(worktree, 'notes/today/todo.txt'), 'utf8')).toBe('first\n');
  const read = await ok(call, 'read_file', { name, path: 'package.json' }, toolResultSchemas['file read']);
  expect(read).toMatchObject({ encoding: 'utf8', content: readFileSync(join(root, 'package.json'), 'utf8') });
  const folder = await ok(call, 'list_files', { name, path: 'notes/today' }, toolResultSchemas['file list']);
  expect(folder.entries).toEqual([{ name: 'todo.txt', type: 'file', size: 6 }]);

  // The file written on the host is the one the container sees: committed from inside.
  const ran = await ok(
    call,
    'exec',
    {
      name,
      command: [
        'sh',
        '-c',
        'cat notes/today/todo.txt && git add notes && git commit -qm "add notes" && echo ok',
      ],
    },
    resultSchemas.exec,
  );
  expect(ran).toMatchObject({ exitCode: 0, output: 'first\nok\n' });
  const diff = await ok(call, 'diff', { name, patch: true }, toolResultSchemas.diff);
  expect(diff.commits.map((commit) => commit.subject)).toEqual(['add notes']);
  expect(diff.patch).toContain('+first');
  const logs = await ok(call, 'logs', { name, service: 'postgres', tail: 50 }, toolResultSchemas.logs);
  expect(logs).toMatchObject({ name, service: 'postgres' });
  expect(logs.lines?.join('\n')).toMatch(/database system is ready/);

  const beat = await ok(call, 'heartbeat', { name }, resultSchemas.heartbeat);
  expect(Date.parse(beat.expiresAt)).toBeGreaterThanOrEqual(Date.parse(made.agent.expiry.expiresAt));
  const synced = await ok(call, 'sync', { name }, resultSchemas.sync);
  expect(synced).toMatchObject({ name, commits: 1, fetched: false });

  // The database: a table saved in a snapshot, dropped, restored; a reset puts the base's back.
  const url = readEnvFile(made.agent.hostEnvFile).DATABASE_URL as string;
  await sql(url, 'create table kept (id int)');
  const snapshot = await ok(call, 'db_snapshot', { name, label: 'before' }, resultSchemas['db snapshot']);
  expect(snapshot).toMatchObject({ agent: name, action: 'snapshot', label: 'before' });
  const snapshots = await ok(call, 'db_snapshots', { name }, resultSchemas['db snapshots']);
  expect(snapshots.snapshots.map((s) => s.label)).toEqual(['before']);
  await sql(url, 'drop table kept');
  const restored = await ok(call, 'db_restore', { name, label: 'before' }, resultSchemas['db restore']);
  expect(restored).toMatchObject({ action: 'restore', label: 'before' });
  expect(await tableExists(url, 'kept')).toBe(true);
  const reset = await ok(call, 'db_reset', { name }, resultSchemas['db reset']);
  expect(reset).toMatchObject({ action: 'reset' });
  expect(await tableExists(url, 'kept')).toBe(false);

  const completed = await ok(call, 'complete', { name, onExit: 'keep' }, resultSchemas.complete);
  expect(completed.task).toMatchObject({ commits: 1, result: 'kept', onExit: 'keep' });
  // gc leaves a live agent alone.
  const swept = await ok(call, 'gc', { dryRun: true }, resultSchemas.gc);
  expect(swept.actions.filter((action) => action.target.includes(name))).toEqual([]);
  const gone = await ok(call, 'teardown', { name }, resultSchemas.teardown);
  expect(gone).toMatchObject({ name, removed: true, branchOutcome: 'kept-unmerged' });
  expect(await leftovers(root, name)).toEqual({ ...NOTHING, branches: 1 });
}

/** `berth mcp` driven line by line, as a client that writes what it likes. */
function raw(root: string) {
  const child = spawn(process.execPath, [BIN, 'mcp', '--repo', root], { stdio: ['pipe', 'pipe', 'pipe'] });
  processes.push(child);
  const messages: Array<Record<string, unknown>> = [];
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    const lines = stdout.split('\n');
    stdout = lines.pop() ?? '';
    for (const line of lines) if (line) messages.push(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const send = (message: unknown) =>
    child.stdin.write(`${typeof message === 'string' ? message : JSON.stringify(message)}\n`);
  const reply = (id: number) =>
    eventually(async () => {
      const found = messages.find((m) => m.id === id && ('result' in m || 'error' in m));
      if (!found) throw new Error(`no reply to ${id}; stderr: ${stderr}`);
      return found;
    }, 60_000);
  const initialize = async () => {
    send({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    });
    await reply(0);
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  };
  return { child, messages, send, reply, initialize, exited, stderr: () => stderr };
}

/** A provision on the slow repository, started raw and followed until its setup hook runs. */
async function provisionUntilSetup(server: ReturnType<typeof raw>, name: string) {
  await server.initialize();
  server.send({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'provision', arguments: { name }, _meta: { progressToken: 'p' } },
  });
  await eventually(async () => {
    const progress = server.messages.filter((m) => m.method === 'notifications/progress');
    if (!progress.some((m) => JSON.stringify(m).includes('running setup hooks')))
      throw new Error(`not at setup yet: ${server.stderr()}`);
  }, 120_000);
}

/** No lease of the agent is left on the host. */
function leasesOf(name: string) {
  const leases = readLeases(process.env);
  return [...Object.values(leases.ports), ...Object.values(leases.subnets)].filter(
    (lease) => lease.agent === name && lease.berthDir.startsWith(dirname(slow.root)),
  );
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'berth-mcp-home-'));
  repo = await makeRepo();
  slow = await makeRepo({ files: { 'berth.yaml': 'hooks:\n  setup: ["sleep 3002"]\n' } });
  for (const r of [repo, slow]) {
    await r.git('config', 'user.name', 'Berth Test');
    await r.git('config', 'user.email', 'test@berth.invalid');
  }
});
afterAll(async () => {
  for (const client of clients) await client.close().catch(() => {});
  for (const child of processes) child.kill('SIGKILL');
  await repo?.cleanup();
  await slow?.cleanup();
  rmSync(home, { recursive: true, force: true });
});

describe('berth mcp with the SDK`s own client', () => {
  it('lists every tool with its annotations and output schema, and calls every one', async () => {
    const { client, call } = await connect(repo.root);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
    for (const tool of tools) {
      expect(tool.outputSchema?.type, tool.name).toBe('object');
      expect(typeof tool.annotations?.readOnlyHint, tool.name).toBe('boolean');
      expect(typeof tool.annotations?.openWorldHint, tool.name).toBe('boolean');
      if (!tool.annotations?.readOnlyHint) {
        expect(typeof tool.annotations?.destructiveHint, tool.name).toBe('boolean');
        expect(typeof tool.annotations?.idempotentHint, tool.name).toBe('boolean');
      }
    }
    expect(tools.find((t) => t.name === 'list')?.annotations).toMatchObject({ readOnlyHint: true });
    expect(tools.find((t) => t.name === 'teardown')?.annotations).toMatchObject({ destructiveHint: true });
    // The client checks each result against the tool's output schema; everyTool checks the contract too.
    await everyTool(call, repo.root, 'viasdk');
  });

  it('answers a bad name or bad input with berth`s one-line error', async () => {
    const { call } = await connect(repo.root);
    const unknown = await call('show', { name: 'nobody' });
    expect(unknown.isError).toBe(true);
    expect(unknown.content[0]?.text).toMatch(
      /^berth: error: no agent (and no task )?named "nobody" in .+ \(hint: .+\)$/,
    );
    const bad = await call('provision', { name: 'Bad Name' });
    expect(bad.isError).toBe(true);
    expect(bad.content[0]?.text).toMatch(/^berth: error: .*Bad Name.* \(hint: .+\)$/);
    // Input that does not fit a tool's schema is refused by the SDK, before berth runs anything.
    const wrongType = await call('exec', { name: 'x', command: 'not a list' }).catch((error: Error) => ({
      isError: true,
      content: [{ text: error.message }],
    }));
    expect(wrongType.isError).toBe(true);
    expect(wrongType.content[0]?.text).toMatch(/command/);
  });
});

describe('provision with a devcontainer.json', () => {
  it('takes the agent container from the file the caller names, in the repository only', {
    timeout: 300_000,
  }, async () => {
    const dev = await makeRepo({
      files: {
        'berth.yaml': 'postgres: { enabled: false }\nredis: { enabled: false }\n',
        'tools/dev.json': '// the team\'s other container\n{ "containerEnv": { "FROM_DEV": "yes", }, }\n',
      },
    });
    try {
      const { call } = await connect(dev.root);
      const outside = await call('provision', { name: 'mcpout', devcontainer: '../dev.json' });
      expect(outside.isError).toBe(true);
      expect(outside.content[0]?.text).toMatch(
        /^berth: error: devcontainer: \.\.\/dev\.json is outside the repository \(hint: .+\)$/,
      );
      expect(await leftovers(dev.root, 'mcpout')).toEqual(NOTHING);
      await ok(
        call,
        'provision',
        { name: 'mcpdev', devcontainer: 'tools/dev.json' },
        resultSchemas.provision,
      );
      const ran = await ok(
        call,
        'exec',
        { name: 'mcpdev', command: ['printenv', 'FROM_DEV'] },
        resultSchemas.exec,
      );
      expect(ran.stdout.trim()).toBe('yes');
      await ok(call, 'teardown', { name: 'mcpdev', force: true }, resultSchemas.teardown);
    } finally {
      await dev.cleanup();
    }
  });
});

describe('read_file with the SDK`s own client', () => {
  it('answers every file up to its limit within the client`s buffer, and refuses a bigger one in one line', async () => {
    const { call } = await connect(repo.root);
    const made = await ok(call, 'provision', { name: 'reads' }, resultSchemas.provision);
    const worktree = made.agent.worktree;
    // The worst text for JSON (every byte escapes to six) and bytes that are no text, at the limit.
    const files: Record<string, Buffer> = {
      'escapes.txt': Buffer.alloc(READ_FILE_BYTES, 1),
      'quotes.txt': Buffer.alloc(READ_FILE_BYTES, '"'),
      // The largest answer as text: its JSON string just within 2 MiB, escaped once more in the text.
      'near-quotes.txt': Buffer.alloc(READ_FILE_BYTES - 2, '"'),
      'plain.txt': Buffer.alloc(READ_FILE_BYTES, 'line of text\n'),
      'binary.bin': randomBytes(READ_FILE_BYTES),
    };
    for (const [path, bytes] of Object.entries(files)) {
      writeFileSync(join(worktree, path), bytes);
      const read = await ok(call, 'read_file', { name: 'reads', path }, toolResultSchemas['file read']);
      expect(read.size, path).toBe(bytes.length);
      if (path === 'near-quotes.txt' || path === 'plain.txt') expect(read.encoding, path).toBe('utf8');
      const back = Buffer.from(read.content, read.encoding === 'base64' ? 'base64' : 'utf8');
      expect(back.equals(bytes), path).toBe(true);
    }
    writeFileSync(join(worktree, 'over.bin'), Buffer.alloc(READ_FILE_BYTES + 1));
    const over = await call('read_file', { name: 'reads', path: 'over.bin' });
    expect(over.isError).toBe(true);
    expect(over.content[0]?.text).toMatch(
      /^berth: error: over\.bin is \d+ bytes, over the \d+ bytes a read returns \(hint: [^\n]+\)$/,
    );
  });

  it('masks the agent`s passwords in what it reads, unless the server runs with --show-secrets', async () => {
    const { call } = await connect(repo.root);
    const shown = resultOf(
      await berth(['show', 'reads', '--repo', repo.root, '--json', '--show-secrets']),
      'show',
    );
    const env = readEnvFile(shown.agent?.hostEnvFile ?? '');
    const url = env.DATABASE_URL ?? '';
    const password = decodeURIComponent(new URL(url).password);
    expect(password.length).toBeGreaterThan(8);
    const read = await ok(
      call,
      'read_file',
      { name: 'reads', path: '.env.local' },
      toolResultSchemas['file read'],
    );
    expect(readFileSync(join(shown.agent?.worktree ?? '', '.env.local'), 'utf8')).toContain(password);
    expect(read.content).not.toContain(password);
    expect(read.content).toMatch(/DATABASE_URL=postgres(ql)?:\/\/[^:]+:\*\*\*@/);
    const binary = await ok(
      call,
      'read_file',
      { name: 'reads', path: '.env.local', encoding: 'base64' },
      toolResultSchemas['file read'],
    );
    expect(Buffer.from(binary.content, 'base64').toString()).not.toContain(password);
    const trusted = await connect(repo.root, {
      command: process.execPath,
      args: [BIN, 'mcp', '--repo', repo.root, '--show-secrets'],
      env: {},
    });
    const plain = await ok(
      trusted.call,
      'read_file',
      { name: 'reads', path: '.env.local' },
      toolResultSchemas['file read'],
    );
    expect(plain.content).toContain(password);
    await ok(call, 'teardown', { name: 'reads', force: true }, resultSchemas.teardown);
  });
});

describe('berth mcp with the MCP Inspector`s CLI', () => {
  it('lists every tool, portable by the Inspector`s strict check, with annotations and output schemas', async () => {
    const run = await inspector(repo.root, ['--method', 'tools/list', '--strict']);
    expect(run.exitCode, run.stderr).toBe(0);
    const { tools } = (JSON.parse(run.stdout) as { result: { tools: Array<Record<string, never>> } }).result;
    expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
    for (const tool of tools) {
      expect(tool.outputSchema, tool.name).toMatchObject({ type: 'object' });
      expect(tool.annotations, tool.name).toMatchObject({ readOnlyHint: expect.any(Boolean) });
    }
  });

  it('calls every tool', { timeout: 600_000 }, async () => {
    await everyTool(inspectorCall(repo.root), repo.root, 'viainsp');
  });

  it('sends what berth reads: its messages, captured on the way in', async () => {
    const captured = join(home, 'sent.jsonl');
    const server = [
      'sh',
      '-c',
      `tee "$0" | exec "$1" "$2" mcp --repo "$3"`,
      captured,
      process.execPath,
      BIN,
      repo.root,
    ];
    const run = await inspector(
      repo.root,
      ['--method', 'tools/call', '--tool-name', 'list_files', '--tool-args-json', '{"name":"nobody"}'],
      server,
    );
    expect(run.stdout).toContain('no agent named');
    const sent = readFileSync(captured, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { method?: string; params?: Record<string, unknown> });
    for (const message of sent) expect(JSONRPCMessageSchema.safeParse(message).success).toBe(true);
    expect(sent.map((m) => m.method)).toEqual([
      'initialize',
      'notifications/initialized',
      'tools/list',
      'tools/call',
    ]);
    expect(sent[0]?.params).toMatchObject({ clientInfo: { name: 'inspector-cli' } });
    expect(sent[3]?.params).toEqual({ name: 'list_files', arguments: { name: 'nobody' } });
  });
});

describe('berth mcp under a hostile or careless client', () => {
  it('refuses a 20 MiB message with an error (and a line on stderr), and serves on', async () => {
    const { client, call, stderr } = await connect(repo.root);
    const huge = client.callTool({
      name: 'exec',
      arguments: { name: 'nobody', command: ['echo', 'x'.repeat(20 * 1024 * 1024)] },
    });
    await expect(huge).rejects.toThrow(/over the limit of 10485760 bytes/);
    expect(stderr()).toMatch(/^berth: mcp: refused a message \(id \d+\): message of 2\d{7} bytes is over/m);
    const after = await call('list');
    expect(after.isError).toBeFalsy();
  });

  it('answers a parse error and a request without method as JSON-RPC says, and serves on', async () => {
    const server = raw(repo.root);
    await server.initialize();
    server.send('{"jsonrpc":"2.0","id":5,"method":"tools/list"');
    server.send({ jsonrpc: '2.0', id: 6, params: {} });
    server.send({ jsonrpc: '2.0', id: 7, method: 'tools/list' });
    await server.reply(7);
    expect(server.messages.filter((m) => 'error' in m)).toEqual([
      { jsonrpc: '2.0', error: { code: -32700, message: expect.stringMatching(/^Parse error/) } },
      { jsonrpc: '2.0', id: 6, error: { code: -32600, message: 'Invalid Request: no "method"' } },
    ]);
    expect(server.stderr()).toMatch(/refused a message: Parse error/);
    expect(server.stderr()).toMatch(/refused a message \(id 6\): Invalid Request: no "method"/);
    server.child.stdin.end();
    expect(await server.exited).toBe(0);
  });

  it('stops an exec`s command in the container when the call is cancelled', async () => {
    const { client, call } = await connect(repo.root);
    const made = await ok(call, 'provision', { name: 'mcpcancel' }, resultSchemas.provision);
    const container = docker().getContainer(
      (
        await docker().listContainers({
          filters: { label: ['dev.berth.agent=mcpcancel', 'com.docker.compose.service=agent'] },
        })
      )[0]?.Id ?? '',
    );
    const running = async () =>
      ((await container.top()) as { Processes: string[][] }).Processes.some((p) =>
        p.join(' ').includes('sleep 3001'),
      );
    const cancel = new AbortController();
    const exec = client.callTool(
      { name: 'exec', arguments: { name: 'mcpcancel', command: ['sh', '-c', 'sleep 3001; echo never'] } },
      undefined,
      { signal: cancel.signal },
    );
    await eventually(async () => expect(await running()).toBe(true));
    cancel.abort('enough');
    await expect(exec).rejects.toThrow(/enough|abort/i);
    // The command goes, and with it the session that kept gc away.
    await eventually(async () => expect(await running()).toBe(false));
    await eventually(async () => {
      const shown = await ok(call, 'show', { name: 'mcpcancel' }, resultSchemas.show);
      expect(shown.agent?.inUse).toEqual([]);
    });
    expect(made.agent.state).toBe('running');
    await ok(call, 'teardown', { name: 'mcpcancel' }, resultSchemas.teardown);
  });

  it('rolls a provision back when the call is cancelled: nothing of the agent remains', async () => {
    const { client } = await connect(slow.root);
    const cancel = new AbortController();
    const made = client.callTool({ name: 'provision', arguments: { name: 'mcpstop' } }, undefined, {
      signal: cancel.signal,
      onprogress: (progress) => {
        if (progress.message?.includes('running setup hooks')) cancel.abort('changed my mind');
      },
    });
    await expect(made).rejects.toThrow(/changed my mind/);
    await eventually(async () => expect(await leftovers(slow.root, 'mcpstop')).toEqual(NOTHING), 60_000);
    expect(leasesOf('mcpstop')).toEqual([]);
  });

  it('rolls a provision back when the client goes (stdin closes) before it exits', async () => {
    const server = raw(slow.root);
    await provisionUntilSetup(server, 'mcpgone');
    expect((await leftovers(slow.root, 'mcpgone')).containers).toBeGreaterThan(0);
    server.child.stdin.end();
    expect(await server.exited).toBe(0);
    // Checked at the exit, without waiting: the rollback ran before the process ended.
    expect(await leftovers(slow.root, 'mcpgone')).toEqual(NOTHING);
    expect(leasesOf('mcpgone')).toEqual([]);
  });

  it('rolls a provision back on SIGTERM (what MCP clients send after closing stdin) before it exits', async () => {
    const server = raw(slow.root);
    await provisionUntilSetup(server, 'mcpterm');
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(await leftovers(slow.root, 'mcpterm')).toEqual(NOTHING);
    expect(leasesOf('mcpterm')).toEqual([]);
  });
});

// berth run by a user who is not root (the agent's user, then): what the file tools make is theirs.
const root = process.getuid?.() === 0;
describe.runIf(root)('the worktree file tools, against an agent that plants links', () => {
  let owned: TestRepo;
  let user: Awaited<ReturnType<typeof asOtherUser>>;
  let uid: number;
  beforeAll(async () => {
    user = await asOtherUser('mcp', ['docker']);
    owned = await makeRepo();
    await owned.git('config', 'user.name', 'Berth Test');
    await owned.git('config', 'user.email', 'berth-test-mcp@berth.invalid');
    uid = Number(user.uid);
    await execa('chown', ['-R', `${user.uid}:${user.gid}`, dirname(owned.root)]);
  });
  afterAll(async () => {
    await user?.run(['teardown', 'planted', '--repo', owned.root, '--force']);
    await owned?.cleanup();
    await user?.cleanup();
  });

  it('refuses every way out of the worktree with one line, and writes as the agent`s user', async () => {
    const { call } = await connect(owned.root, {
      command: 'runuser',
      args: ['-u', user.name, '--', process.execPath, user.bin, 'mcp', '--repo', owned.root],
      env: { HOME: `/home/${user.name}` },
    });
    const made = await ok(call, 'provision', { name: 'planted' }, resultSchemas.provision);
    const worktree = made.agent.worktree;
    // What a hostile agent can do from inside: links out of its worktree, to a file and to a folder.
    const planted = await ok(
      call,
      'exec',
      {
        name: 'planted',
        command: [
          'sh',
          '-c',
          'ln -s /etc/passwd leak && ln -s / up && mkdir -p real && ln -s ../real real-link && id -u',
        ],
      },
      resultSchemas.exec,
    );
    expect(planted.output?.trim()).toBe(String(uid));

    const refused = async (tool: string, args: Record<string, unknown>, why: RegExp) => {
      const result = await call(tool, { name: 'planted', ...args });
      expect(result.isError, `${tool} ${JSON.stringify(args)}`).toBe(true);
      expect(result.content[0]?.text).toMatch(/^berth: error: [^\n]+ \(hint: [^\n]+\)$/);
      expect(result.content[0]?.text).toMatch(why);
    };
    await refused('read_file', { path: 'leak' }, /leak is a symlink/);
    await refused('read_file', { path: 'up/etc/passwd' }, /up is a symlink/);
    await refused('read_file', { path: '../../../etc/passwd' }, /climbs out with \.\./);
    await refused('read_file', { path: '/etc/passwd' }, /is absolute/);
    await refused('list_files', { path: 'up' }, /up is a symlink/);
    await refused('write_file', { path: 'leak', content: 'x' }, /leak is a symlink/);
    await refused('write_file', { path: 'up/tmp/berth-escaped', content: 'x' }, /up is a symlink/);
    await refused('write_file', { path: 'real-link/inside', content: 'x' }, /real-link is a symlink/);
    await refused('write_file', { path: '.git', content: 'gitdir: /' }, /under \.git/);
    expect(readFileSync('/etc/passwd', 'utf8')).not.toBe('x');
    expect(() => statSync('/tmp/berth-escaped')).toThrow();

    const listed = await ok(call, 'list_files', { name: 'planted' }, toolResultSchemas['file list']);
    expect(listed.entries.filter((e) => e.type === 'symlink').map((e) => e.name)).toEqual([
      'leak',
      'real-link',
      'up',
    ]);
    // A write makes its folders inside, owned by the agent's user, who can go on working in them.
    await ok(
      call,
      'write_file',
      {
        name: 'planted',
        path: 'made/by/berth.bin',
        content: Buffer.from([0, 255, 1]).toString('base64'),
        encoding: 'base64',
      },
      toolResultSchemas['file write'],
    );
    for (const path of ['made', 'made/by', 'made/by/berth.bin'])
      expect(statSync(join(worktree, path)).uid, path).toBe(uid);
    const back = await ok(
      call,
      'read_file',
      { name: 'planted', path: 'made/by/berth.bin' },
      toolResultSchemas['file read'],
    );
    expect(back).toMatchObject({
      encoding: 'base64',
      content: Buffer.from([0, 255, 1]).toString('base64'),
      size: 3,
    });
    const after = await ok(
      call,
      'exec',
      {
        name: 'planted',
        command: ['sh', '-c', 'touch made/by/agent && echo more >> made/by/berth.bin && echo ok'],
      },
      resultSchemas.exec,
    );
    expect(after).toMatchObject({ exitCode: 0, output: 'ok\n' });
    await ok(call, 'teardown', { name: 'planted', force: true }, resultSchemas.teardown);
  });
});
