import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { openInBrowser, pageAssets } from '../core/page.js';
import { UsageError } from '../errors.js';
import { type Runtime, runtimeFrom } from '../runtime.js';
import { LiveView } from './live.js';
import { pageWith } from './page.js';
import { uiApp } from './server.js';

export interface UiOptions {
  /** The repositories to show, or every one with agents on this host. */
  repos: string[] | 'all';
  /** The fleet's queue URL: adds the fleet tab. */
  queue?: string;
  /** 0 or none: a free port. */
  port?: number;
  /** Open the page in the desktop's browser. */
  open?: boolean;
  signal: AbortSignal;
  runtime?: Partial<Runtime>;
}

export interface RunningUi {
  url: string;
  port: number;
  /** Resolves when the server has closed (after `signal` aborts). */
  closed: Promise<void>;
}

/** Serves the page on 127.0.0.1 until `signal` aborts. */
export async function startUi(options: UiOptions): Promise<RunningUi> {
  const runtime = runtimeFrom(options.runtime);
  // The watchers stop with the server, or as soon as it fails to start.
  const stop = new AbortController();
  options.signal.addEventListener('abort', () => stop.abort(), { once: true });
  const live = new LiveView({
    repos: options.repos,
    queue: options.queue,
    signal: stop.signal,
    env: runtime.env,
  });
  try {
    await live.start();
    return await serve(options, runtime, live, stop.signal);
  } catch (error) {
    stop.abort();
    throw error;
  }
}

async function serve(
  options: UiOptions,
  runtime: Runtime,
  live: LiveView,
  signal: AbortSignal,
): Promise<RunningUi> {
  const token = runtime.randomBytes(24).toString('hex');
  const assets = pageAssets();
  let port = options.port ?? 0;
  const app = uiApp({
    live,
    token,
    port: () => port,
    page: (nonce) => pageWith(assets, nonce),
    nonce: () => runtime.randomBytes(16).toString('base64'),
  });
  const server = createAdaptorServer({ fetch: app.fetch });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new UsageError('port-in-use', `port ${port} on 127.0.0.1 is in use`, {
              hint: 'pick another with --port, or leave --port out for a free one',
            })
          : error,
      ),
    );
    server.listen(port, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/?token=${token}`;
  const closed = new Promise<void>((resolve) => {
    signal.addEventListener('abort', () => {
      server.close(() => resolve());
      // Event streams stay open until their pages go: end them.
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    });
  });
  if (options.open) openInBrowser(url, port, runtime.env, signal);
  return { url, port, closed };
}
