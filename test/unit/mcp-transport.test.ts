import { PassThrough } from 'node:stream';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { idFromEdges, StdioLineTransport } from '../../src/mcp/transport.js';

/** A transport on in-memory streams: what it passes on, what it answers, what it logs. */
async function harness(maxBytes = 1024) {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const logged: string[] = [];
  const transport = new StdioLineTransport({ stdin, stdout, maxBytes, log: (line) => logged.push(line) });
  const received: JSONRPCMessage[] = [];
  let closed = 0;
  transport.onmessage = (message) => received.push(message);
  transport.onclose = () => {
    closed += 1;
  };
  await transport.start();
  let written = '';
  stdout.on('data', (chunk: Buffer) => {
    written += chunk.toString();
  });
  const replies = () =>
    written
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return { stdin, transport, received, logged, replies, settle, closed: () => closed };
}

const ping = (id: number) => `${JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' })}\n`;

describe('berth mcp`s stdio transport', () => {
  it('passes on messages split across chunks, several in one chunk, with CRLF and blank lines', async () => {
    const t = await harness();
    const two = ping(1) + ping(2).replace('\n', '\r\n');
    t.stdin.write(two.slice(0, 7));
    t.stdin.write(`${two.slice(7)}\n`);
    t.stdin.write(ping(3));
    await t.settle();
    expect(t.received.map((m) => (m as { id: number }).id)).toEqual([1, 2, 3]);
    expect(t.replies()).toEqual([]);
    expect(t.logged).toEqual([]);
  });

  it('answers a line that is not JSON with a parse error (-32700, no id) and goes on', async () => {
    const t = await harness();
    t.stdin.write('{"jsonrpc": "2.0", "id": 4, "method": \n');
    t.stdin.write(ping(5));
    await t.settle();
    expect(t.replies()).toEqual([
      { jsonrpc: '2.0', error: { code: -32700, message: expect.stringMatching(/^Parse error/) } },
    ]);
    expect(t.received).toHaveLength(1);
    expect(t.logged).toEqual([expect.stringMatching(/^mcp: refused a message: Parse error/)]);
  });

  it('answers a request without method, with a bad id, a batch, with invalid request (-32600)', async () => {
    const t = await harness();
    t.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 7, params: {} })}\n`);
    t.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1.5, method: 'ping' })}\n`);
    t.stdin.write(`${JSON.stringify([{ jsonrpc: '2.0', id: 8, method: 'ping' }])}\n`);
    t.stdin.write(`${JSON.stringify({ jsonrpc: '1.0', id: 'a', method: 'ping' })}\n`);
    t.stdin.write('42\n');
    await t.settle();
    expect(t.replies()).toEqual([
      { jsonrpc: '2.0', id: 7, error: { code: -32600, message: 'Invalid Request: no "method"' } },
      {
        jsonrpc: '2.0',
        error: { code: -32600, message: 'Invalid Request: "id" must be a string or an integer' },
      },
      { jsonrpc: '2.0', error: { code: -32600, message: expect.stringMatching(/batch/) } },
      { jsonrpc: '2.0', id: 'a', error: { code: -32600, message: expect.stringMatching(/"2.0"/) } },
      { jsonrpc: '2.0', error: { code: -32600, message: expect.stringMatching(/not a JSON-RPC/) } },
    ]);
    expect(t.received).toEqual([]);
    expect(t.logged).toHaveLength(5);
  });

  it('drops a malformed reply of the client without answering it (JSON-RPC answers requests only)', async () => {
    const t = await harness();
    t.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 3, result: 'not an object' })}\n`);
    await t.settle();
    expect(t.replies()).toEqual([]);
    expect(t.logged).toEqual([expect.stringMatching(/dropped a malformed reply/)]);
  });

  it('refuses a message over the limit with an error naming its id, skips it, and reads the next', async () => {
    const t = await harness(1024);
    const big = (id: number) =>
      `${JSON.stringify({ method: 'tools/call', params: { text: 'x'.repeat(5000) }, jsonrpc: '2.0', id })}\n`;
    // Its id last, as the TypeScript SDK writes it; fed in small chunks, as a pipe gives it.
    const message = big(11) + ping(12);
    for (let i = 0; i < message.length; i += 100) t.stdin.write(message.slice(i, i + 100));
    // Its id first, as other clients write it.
    t.stdin.write(
      `{"jsonrpc":"2.0","id":"first","method":"tools/call","params":{"t":"${'y'.repeat(3000)}"}}\n`,
    );
    // No id to be found: the reply has none.
    t.stdin.write(`{"jsonrpc":"2.0","method":"x","params":{"t":"${'z'.repeat(3000)}"}}\n`);
    await t.settle();
    const over = { code: -32600, message: expect.stringMatching(/over the limit of 1024 bytes/) };
    expect(t.replies()).toEqual([
      { jsonrpc: '2.0', id: 11, error: over },
      { jsonrpc: '2.0', id: 'first', error: over },
      { jsonrpc: '2.0', error: over },
    ]);
    expect(t.received.map((m) => (m as { id: number }).id)).toEqual([12]);
    expect(t.logged).toEqual([
      expect.stringMatching(/^mcp: refused a message \(id 11\): message of 50\d\d bytes is over/),
      expect.stringMatching(/\(id "first"\)/),
      expect.stringMatching(/^mcp: refused a message: message of/),
    ]);
    expect(t.closed()).toBe(0);
  });

  it('closes once when stdin ends, and sends nothing after', async () => {
    const t = await harness();
    t.stdin.end();
    await t.settle();
    expect(t.closed()).toBe(1);
    await t.transport.close();
    await t.transport.send({ jsonrpc: '2.0', id: 1, result: {} });
    expect(t.closed()).toBe(1);
    expect(t.replies()).toEqual([]);
  });

  it('finds an id at the edges of a message only where it is a member of the message itself', () => {
    expect(idFromEdges('{"jsonrpc":"2.0","id":5,"method":"x"', '')).toBe(5);
    expect(idFromEdges('{ "id" : "a\\"b", "jsonrpc":"2.0"', '')).toBe('a"b');
    expect(idFromEdges('{"method":"x","params":{', '"t":"v"},"jsonrpc":"2.0","id":-3}')).toBe(-3);
    // An id inside params, or inside a string, is not the message's.
    expect(idFromEdges('{"method":"x","params":{"id":4', '"t":"v","id":4}}')).toBeUndefined();
    expect(idFromEdges('{"method":"x"', '"t":"q\\",\\"id\\":9}"}')).toBeUndefined();
    expect(idFromEdges('{"jsonrpc":"2.0","id":1.5', '')).toBeUndefined();
  });
});
