import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, type JSONRPCMessage, JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';

/** The largest message berth mcp reads (the SDK's own stdio limit); a larger one is refused, not fatal. */
export const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

/** How much of a refused message's start and end is kept, to find its id. */
const KEEP = 256;

type Id = string | number;

/**
 * MCP over stdio, one JSON-RPC message per line, as the SDK's StdioServerTransport reads it, but
 * answering what that transport drops or dies of: a line that is not JSON gets a parse error (-32700),
 * JSON that is not a JSON-RPC message (no `method`, a batch) gets an invalid request error (-32600), and
 * a message over the limit is skipped to its end and refused with an error, its id recovered from its
 * first or last bytes where it has one. Each refusal is also one line on `log` (stderr). The client
 * going away (stdin ends, stdout breaks) closes the transport, which aborts the calls in flight.
 */
export class StdioLineTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private parts: Buffer[] = [];
  private size = 0;
  /** A line over the limit, being skipped: its length so far, its start, and its last bytes. */
  private skipping: { bytes: number; head: Buffer; tail: Buffer } | undefined;
  private closed = false;
  private readonly stdin: Readable;
  private readonly stdout: Writable;
  private readonly maxBytes: number;
  private readonly log: (line: string) => void;

  constructor(
    options: {
      stdin?: Readable;
      stdout?: Writable;
      maxBytes?: number;
      log?: (line: string) => void;
    } = {},
  ) {
    this.stdin = options.stdin ?? process.stdin;
    this.stdout = options.stdout ?? process.stdout;
    this.maxBytes = options.maxBytes ?? MAX_MESSAGE_BYTES;
    this.log = options.log ?? (() => {});
  }

  async start(): Promise<void> {
    this.stdin.on('data', this.ondata);
    this.stdin.on('end', this.onend);
    this.stdin.on('close', this.onend);
    this.stdin.on('error', this.onend);
    this.stdout.on('error', this.onend);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stdin.off('data', this.ondata);
    this.stdin.off('end', this.onend);
    this.stdin.off('close', this.onend);
    if (this.stdin.listenerCount('data') === 0) this.stdin.pause();
    this.parts = [];
    this.size = 0;
    this.skipping = undefined;
    this.onclose?.();
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed || this.stdout.destroyed) return resolve();
      if (this.stdout.write(`${JSON.stringify(message)}\n`)) resolve();
      else this.stdout.once('drain', resolve);
    });
  }

  private readonly onend = () => {
    void this.close();
  };

  private readonly ondata = (chunk: Buffer | string) => {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    while (start < data.length && !this.closed) {
      const newline = data.indexOf(0x0a, start);
      this.take(data.subarray(start, newline === -1 ? data.length : newline));
      if (newline === -1) break;
      this.endOfLine();
      start = newline + 1;
    }
  };

  private take(piece: Buffer) {
    if (piece.length === 0) return;
    if (this.skipping) {
      this.skipping.bytes += piece.length;
      this.skipping.tail = Buffer.from(
        Buffer.concat([this.skipping.tail, piece.subarray(-KEEP)]).subarray(-KEEP),
      );
      return;
    }
    if (this.size + piece.length <= this.maxBytes) {
      this.parts.push(piece);
      this.size += piece.length;
      return;
    }
    const all = Buffer.concat([...this.parts, piece]);
    this.skipping = {
      bytes: all.length,
      head: Buffer.from(all.subarray(0, KEEP)),
      tail: Buffer.from(all.subarray(-KEEP)),
    };
    this.parts = [];
    this.size = 0;
  }

  private endOfLine() {
    const skipped = this.skipping;
    if (skipped) {
      this.skipping = undefined;
      const id = idFromEdges(skipped.head.toString('utf8'), skipped.tail.toString('utf8'));
      this.refuse(
        id,
        ErrorCode.InvalidRequest,
        `message of ${skipped.bytes} bytes is over the limit of ${this.maxBytes} bytes`,
      );
      return;
    }
    const line = Buffer.concat(this.parts).toString('utf8').replace(/\r$/, '');
    this.parts = [];
    this.size = 0;
    if (line.trim() === '') return;
    this.handle(line);
  }

  private handle(line: string) {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      this.refuse(undefined, ErrorCode.ParseError, `Parse error: ${(error as Error).message}`);
      return;
    }
    const parsed = JSONRPCMessageSchema.safeParse(value);
    if (parsed.success) {
      this.onmessage?.(parsed.data);
      return;
    }
    const problem = invalidRequest(value);
    if (problem === 'response') {
      // A reply of the client that does not fit: JSON-RPC answers requests, never replies.
      this.log(`mcp: dropped a malformed reply from the client: ${line.slice(0, 200)}`);
      return;
    }
    this.refuse(idOf(value), ErrorCode.InvalidRequest, `Invalid Request: ${problem}`);
  }

  /** The JSON-RPC error reply to a message berth cannot take, and one line on stderr. */
  private refuse(id: Id | undefined, code: number, message: string) {
    this.log(`mcp: refused a message${id === undefined ? '' : ` (id ${JSON.stringify(id)})`}: ${message}`);
    // Without a readable id the reply has none: MCP's schema leaves `id` out where JSON-RPC writes null.
    void this.send({
      jsonrpc: '2.0',
      ...(id !== undefined && { id }),
      error: { code, message },
    } as JSONRPCMessage);
  }
}

const isId = (value: unknown): value is Id =>
  typeof value === 'string' || (typeof value === 'number' && Number.isSafeInteger(value));

function idOf(value: unknown): Id | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const id = (value as { id?: unknown }).id;
  return isId(id) ? id : undefined;
}

/** What is wrong with a JSON value that is not a JSON-RPC message; 'response' for a client's reply. */
function invalidRequest(value: unknown): string {
  if (Array.isArray(value)) return 'a batch (MCP takes one message per line)';
  if (typeof value !== 'object' || value === null) return 'not a JSON-RPC object';
  const message = value as Record<string, unknown>;
  if (message.jsonrpc !== '2.0') return '"jsonrpc" must be "2.0"';
  if (!('method' in message) && ('result' in message || 'error' in message)) return 'response';
  if (typeof message.method !== 'string') return 'no "method"';
  if ('id' in message && !isId(message.id)) return '"id" must be a string or an integer';
  return 'not a request or notification MCP knows (unknown or malformed members)';
}

const ID = String.raw`(-?\d+(?![\d.eE])|"(?:[^"\\]|\\.)*")`;
/** The id as the first member (after "jsonrpc"), as most clients write it... */
const HEAD_ID = new RegExp(String.raw`^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*${ID}`);
/** ...or as the last, as the TypeScript SDK writes it: the member before the line's closing brace. */
const TAIL_ID = new RegExp(String.raw`[,{]\s*"id"\s*:\s*${ID}\s*\}\s*$`);

/** The id of a message too long to parse, from its first or last bytes, when it is there. */
export function idFromEdges(head: string, tail: string): Id | undefined {
  const found = HEAD_ID.exec(head)?.[1] ?? TAIL_ID.exec(tail.replace(/\r$/, ''))?.[1];
  if (found === undefined) return undefined;
  try {
    const id = JSON.parse(found) as unknown;
    return isId(id) ? id : undefined;
  } catch {
    return undefined;
  }
}
