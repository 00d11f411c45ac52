import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

let repo: TestRepo;
const clients: Client[] = [];

async function connect(): Promise<Client> {
  const client = new Client({ name: 'berth-test', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'mcp', '--repo', repo.root],
      env: { ...(process.env as Record<string, string>) },
      stderr: 'pipe',
    }),
  );
  clients.push(client);
  return client;
}

type ToolResult = {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content: Array<{ text?: string }>;
};
const call = async (
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
  onprogress?: () => void,
) =>
  (await client.callTool(
    { name, arguments: args },
    undefined,
    onprogress ? { onprogress } : undefined,
  )) as ToolResult;

beforeAll(async () => {
  repo = await makeRepo();
  await repo.git('config', 'user.name', 'Berth Test');
  await repo.git('config', 'user.email', 'test@berth.invalid');
});
afterAll(async () => {
  for (const client of clients) await client.close().catch(() => {});
  await repo.cleanup();
});

describe('berth mcp', () => {
  it('drives an agent end to end: provision, exec, diff, logs, teardown, with a second client seeing it', async () => {
    const client = await connect();
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(
      [
        'complete',
        'db_reset',
        'db_snapshot',
        'diff',
        'exec',
        'gc',
        'heartbeat',
        'list',
        'logs',
        'provision',
        'show',
        'sync',
        'teardown',
      ].sort(),
    );
    let progress = 0;
    const made = await call(client, 'provision', { name: 'mcp1' }, () => (progress += 1));
    expect(made.isError, made.content[0]?.text).toBeFalsy();
    expect(made.structuredContent).toMatchObject({ name: 'mcp1', state: 'running' });
    expect(progress).toBeGreaterThan(0);
    expect(JSON.stringify(made.structuredContent)).not.toMatch(/postgres:\/\/[^:]+:[^*@]+@/);

    const ran = await call(client, 'exec', {
      name: 'mcp1',
      command: [
        'sh',
        '-c',
        'echo hello > hello.txt && git add hello.txt && git commit -qm "say hello" && echo done',
      ],
    });
    expect(ran.structuredContent).toMatchObject({ exitCode: 0 });
    expect(String(ran.structuredContent?.output)).toContain('done');

    const diff = await call(client, 'diff', { name: 'mcp1', patch: true });
    expect(diff.structuredContent).toMatchObject({
      commits: [expect.objectContaining({ subject: 'say hello' })],
    });
    expect(String(diff.structuredContent?.stat)).toContain('1 file changed');
    expect(String(diff.structuredContent?.patch)).toContain('+hello');

    const logs = await call(client, 'logs', { name: 'mcp1', service: 'postgres', tail: 20 });
    expect(logs.isError, logs.content[0]?.text).toBeFalsy();

    const other = await connect();
    const listed = await call(other, 'list');
    expect(JSON.stringify(listed.structuredContent)).toContain('"mcp1"');

    const gone = await call(client, 'teardown', { name: 'mcp1' });
    expect(gone.structuredContent).toMatchObject({ name: 'mcp1', removed: true });
  });

  it('answers a bad name or bad input with berth`s one-line error', async () => {
    const client = await connect();
    const unknown = await call(client, 'show', { name: 'nobody' });
    expect(unknown.isError).toBe(true);
    expect(unknown.content[0]?.text).toMatch(
      /^berth: error: no agent (and no task )?named "nobody" in .+ \(hint: .+\)$/,
    );
    const bad = await call(client, 'provision', { name: 'Bad Name' });
    expect(bad.isError).toBe(true);
    expect(bad.content[0]?.text).toMatch(/^berth: error: .*Bad Name.* \(hint: .+\)$/);
    // Input that does not fit a tool's schema is refused by the SDK, before berth runs anything.
    const wrongType = await call(client, 'exec', { name: 'x', command: 'not a list' }).catch(
      (error: Error) => ({ isError: true, content: [{ text: error.message }] }),
    );
    expect(wrongType.isError).toBe(true);
    expect(wrongType.content[0]?.text).toMatch(/command/);
  });
});
