import { Redis, type RedisOptions } from 'ioredis';
import { EnvironmentError, UsageError } from '../errors.js';

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

/**
 * Options for a connection BullMQ's workers can use: no limit on retries per request (a worker waits
 * out a queue restart), and no reconnecting forever before the first connection is checked.
 */
export function queueConnectionOptions(url: string): RedisOptions {
  const parsed = parse(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    ...(parsed.username && { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password && { password: decodeURIComponent(parsed.password) }),
    ...(parsed.protocol === 'rediss:' && { tls: {} }),
    maxRetriesPerRequest: null,
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
  const options = queueConnectionOptions(url);
  const where = `${options.host}:${options.port}`;
  const client = new Redis({
    ...options,
    lazyConnect: true,
    connectTimeout: 5_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  // The reason (a refused password) comes as an error event; connect() then only says the connection closed.
  let reason: Error | undefined;
  client.on('error', (error: Error) => {
    reason ??= error;
  });
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    const message = reason?.message ?? (error as Error).message ?? String(error);
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
    client.disconnect();
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
