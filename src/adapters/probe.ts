import { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Whether a service answered as it should, and if not, what it did instead (for the error). */
export type ProbeAnswer = { ok: true } | { ok: false; answer: string };

/** Each probe, connection and reply together, answers within this or counts as not answering. */
export const PROBE_TIMEOUT_MS = 2000;
const NO_REPLY = `no reply within ${PROBE_TIMEOUT_MS / 1000} s`;

let postgresClient: Promise<typeof import('pg')> | undefined;

/**
 * Loads the Postgres client (not on every command's start-up): call it when the containers start, so
 * that its load (~50 ms of CPU) is done while the engine starts them, not when Postgres may answer.
 */
export function loadPostgresClient(): Promise<typeof import('pg')> {
  postgresClient ??= import('pg');
  return postgresClient;
}

/** Connects with the agent's own credentials and runs a query: the user, password and database all work. */
export async function postgresAnswers(url: string): Promise<ProbeAnswer> {
  const { default: pg } = await loadPostgresClient();
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: PROBE_TIMEOUT_MS,
    query_timeout: PROBE_TIMEOUT_MS,
  });
  client.on('error', () => {});
  let timer: NodeJS.Timeout | undefined;
  // pg's own limits cover the connection and the query; this covers both together, and the goodbye.
  const deadline = new Promise<ProbeAnswer>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, answer: NO_REPLY }), PROBE_TIMEOUT_MS);
  });
  const probe = (async (): Promise<ProbeAnswer> => {
    try {
      await client.connect();
      await client.query('SELECT 1');
      return { ok: true };
    } catch (error) {
      return { ok: false, answer: describeFailure(error) };
    }
  })();
  const answer = await Promise.race([probe, deadline]);
  clearTimeout(timer);
  // A peer that answered is told goodbye (within the same limit); a silent one does not hold the probe.
  const goodbye = answer.ok ? client.end().catch(() => {}) : Promise.resolve();
  await Promise.race([goodbye, sleep(PROBE_TIMEOUT_MS, undefined, { ref: false })]);
  (client as unknown as { connection?: { stream?: { destroy: () => void } } }).connection?.stream?.destroy();
  return answer;
}

function describeFailure(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  if (code === 'ECONNREFUSED') return 'connection refused: nothing listens on the port';
  if (/terminated unexpectedly|ECONNRESET|socket hang up/i.test(message ?? ''))
    return 'connection closed without a reply: nothing listens in the container yet';
  if (
    /^(timeout expired|Query read timeout|Connection terminated due to connection timeout)$/i.test(
      message ?? '',
    )
  )
    return NO_REPLY;
  return (message ?? String(error)).split('\n')[0] ?? 'no answer';
}

/** Sends AUTH and PING over RESP and expects +OK and +PONG. */
export function redisAnswers(port: number, password: string): Promise<ProbeAnswer> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let reply = '';
    // One limit for the connection and the whole reply: a peer trickling bytes does not hold it either.
    const timer = setTimeout(() => fail(NO_REPLY), PROBE_TIMEOUT_MS);
    const done = (answer: ProbeAnswer) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const fail = (answer: string) => done({ ok: false, answer });
    socket.once('error', (error) => fail(describeFailure(error)));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n+PONG\r\n') || reply.startsWith('-')) {
        done(
          reply === '+OK\r\n+PONG\r\n'
            ? { ok: true }
            : { ok: false, answer: reply.split('\r\n')[0] ?? reply },
        );
      }
    });
    socket.once('close', () => fail(describeFailure(new Error('socket hang up'))));
    socket.connect(port, '127.0.0.1', () => {
      const auth = `*2\r\n$4\r\nAUTH\r\n$${Buffer.byteLength(password)}\r\n${password}\r\n`;
      socket.write(`${auth}*1\r\n$4\r\nPING\r\n`);
    });
  });
}

/**
 * Connects to the service's own address (not a published port, whose proxy accepts a connection even
 * with nothing behind it): a connection accepted is an answer.
 */
export function tcpAnswers(host: string, port: number): Promise<ProbeAnswer> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const timer = setTimeout(() => done({ ok: false, answer: NO_REPLY }), PROBE_TIMEOUT_MS);
    const done = (answer: ProbeAnswer) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    socket.once('error', (error) => done({ ok: false, answer: describeFailure(error) }));
    socket.connect(port, host, () => done({ ok: true }));
  });
}

/** GETs http://127.0.0.1:port/path and expects a status below 400. */
export async function httpAnswers(port: number, path: string): Promise<ProbeAnswer> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
      redirect: 'manual',
    });
    await response.body?.cancel();
    return response.status < 400 ? { ok: true } : { ok: false, answer: `HTTP ${response.status}` };
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause ?? error;
    if ((error as { name?: string }).name === 'TimeoutError') return { ok: false, answer: NO_REPLY };
    return { ok: false, answer: describeFailure(cause) };
  }
}
