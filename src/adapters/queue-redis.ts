import { Redis, type RedisOptions } from 'ioredis';
import { EnvironmentError, UsageError } from '../errors.js';
import { QUEUE_CONNECT_TIMEOUT_MS, QUEUE_REPLY_TIMEOUT_MS } from '../plan/fleet.js';

/** A queue URL as people may see it: the password replaced. */
export function redactQueueUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/[^:/@]*:)[^@]*@/, '$1***@');
}

function parse(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError('bad-queue-url', `"${redactQueueUrl(url)}" is not a queue URL`, {
      hint: 'give the URL berth fleet queue printed: redis://:<password>@<host>:<port>',
    });
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new UsageError(
      'bad-queue-url',
      `the queue URL must start with redis:// or rediss://, not ${parsed.protocol}//`,
      {
        hint: 'give the URL berth fleet queue printed: redis://:<password>@<host>:<port>',
      },
    );
  }
  return parsed;
}

function addressOptions(url: string): RedisOptions {
  const parsed = parse(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    ...(parsed.username && { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password && { password: decodeURIComponent(parsed.password) }),
    ...(parsed.protocol === 'rediss:' && { tls: {} }),
    connectTimeout: QUEUE_CONNECT_TIMEOUT_MS,
  };
}

/**
 * A connection that waits out a queue restart (a worker, and the event stream of `fleet wait`): no limit
 * on retries per request, as BullMQ's blocking connections need. A command a peer leaves unanswered
 * longer than any blocking read lasts plus the reply timeout fails (and BullMQ tries it again).
 */
export function queueConnectionOptions(url: string): RedisOptions {
  return {
    ...addressOptions(url),
    maxRetriesPerRequest: null,
    commandTimeout: BLOCKING_READ_MS + QUEUE_REPLY_TIMEOUT_MS,
  };
}

/** BullMQ's longest blocking read: QueueEvents' (10 s); a worker's waits for a job block for 5 s. */
const BLOCKING_READ_MS = 10_000;

/**
 * The event stream of a command that watches the queue (`fleet wait`, `status --watch`): its blocking
 * reads as BullMQ needs them, a silent peer dropped as for a worker, and a lost connection tried again
 * twice, then an error (the command says so, rather than waiting on a queue that is gone).
 */
export function queueEventsOptions(url: string): RedisOptions {
  return {
    ...queueConnectionOptions(url),
    retryStrategy: (times) => (times > 2 ? null : 500),
  };
}

/**
 * A connection for one command's look at the queue (submit, status, wait, cancel): every reply within
 * the reply timeout, a lost connection tried again twice, then an error.
 */
export function queueClientOptions(url: string): RedisOptions {
  return {
    ...addressOptions(url),
    commandTimeout: QUEUE_REPLY_TIMEOUT_MS,
    socketTimeout: QUEUE_REPLY_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => (times > 2 ? null : 500),
  };
}

/** Where the queue is: its host and port. */
export function queueAddress(url: string): { host: string; port: number } {
  const parsed = parse(url);
  return { host: parsed.hostname.replace(/^\[|\]$/g, ''), port: Number(parsed.port || 6379) };
}

/**
 * Checks that the queue answers and takes its password, once, quickly: a clear line now instead of a
 * worker that retries forever against a wrong address.
 */
export async function checkQueue(url: string): Promise<void> {
  const options = addressOptions(url);
  const where = `${options.host}:${options.port}`;
  const client = new Redis({
    ...options,
    lazyConnect: true,
    commandTimeout: QUEUE_REPLY_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  // The reason (a refused password) comes as an error event; connect() then only says the connection closed.
  let reason: Error | undefined;
  client.on('error', (error: Error) => {
    reason ??= error;
  });
  // The connect promise waits for the password's reply, which a silent peer never sends: a timer bounds it all.
  let timer: NodeJS.Timeout | undefined;
  const silent = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new Error(`no reply within ${(QUEUE_CONNECT_TIMEOUT_MS + QUEUE_REPLY_TIMEOUT_MS) / 1000} s`)),
      QUEUE_CONNECT_TIMEOUT_MS + QUEUE_REPLY_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([
      (async () => {
        await client.connect();
        await client.ping();
      })(),
      silent,
    ]);
  } catch (error) {
    const message =
      (error as Error).message?.startsWith('no reply within') || !reason
        ? ((error as Error).message ?? String(error))
        : reason.message;
    if (/NOAUTH|WRONGPASS|invalid password|invalid username-password/i.test(message)) {
      throw new UsageError('queue-auth', `the queue at ${where} refused the password`, {
        hint: "use the URL `berth fleet queue` printed on the queue host (its password is in berth's host folder there)",
      });
    }
    if (/Protocol error/i.test(message)) {
      throw new EnvironmentError('queue-not-redis', `${where} answered, but not as Redis does`, {
        hint: 'check the port: give the URL `berth fleet queue` printed (a proxy may be in the way)',
      });
    }
    throw new EnvironmentError(
      'queue-unreachable',
      `the queue at ${where} does not answer (${firstLine(message)})`,
      {
        hint: 'check that the queue runs (berth fleet queue on its host) and that this host can reach that address',
      },
    );
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
