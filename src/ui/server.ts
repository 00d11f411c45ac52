import { timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'hono';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { dbReset } from '../core/agent/db.js';
import { agentDiff } from '../core/agent/diff.js';
import { agentEnvView } from '../core/agent/exec.js';
import { heartbeat } from '../core/agent/heartbeat.js';
import { show } from '../core/agent/list.js';
import { followAgentLog, followableLogs } from '../core/agent/logs.js';
import { sync } from '../core/agent/sync.js';
import { teardown } from '../core/agent/teardown.js';
import { ExitCode, errorLine, toBerthError, UsageError } from '../errors.js';
import { validateAgentName } from '../plan/names.js';
import type { LiveView } from './live.js';

export interface UiAppOptions {
  live: LiveView;
  token: string;
  /** The port the server listens on: requests must name it in their Host header. */
  port: () => number;
  /** The page, with a nonce for its inline script and style. */
  page: (nonce: string) => string;
  nonce: () => string;
}

const ACTIONS = {
  heartbeat: (repo: string, name: string) => heartbeat({ repo, name }),
  sync: (repo: string, name: string) => sync({ repo, name }),
  // The page offers no force: uncommitted work makes teardown refuse, as it does on the command line.
  teardown: (repo: string, name: string) => teardown({ repo, name }),
  'db-reset': (repo: string, name: string) => dbReset({ repo, name }),
} as const;

const NOT_FOUND = new Set(['no-such-repo', 'no-such-action', 'unknown-agent']);

function sameToken(given: string | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function failure(c: Context, error: unknown) {
  const berth = toBerthError(error);
  const status = NOT_FOUND.has(berth.code)
    ? 404
    : berth.exitCode === ExitCode.usage
      ? 400
      : berth.code === 'internal'
        ? 500
        : 409;
  return c.json({ error: errorLine(error), code: berth.code }, status);
}

/**
 * The page and its API. Every request must carry the token: in the `x-berth-token` header, or for a
 * GET (the page itself, and event streams, which browsers open without headers) in `?token=`. Actions
 * take it only from the header, which no other site's page can set, so they cannot be forged.
 */
export function uiApp(options: UiAppOptions): Hono {
  const app = new Hono();
  const guard = async (c: Context, next: Next) => {
    const port = options.port();
    const host = c.req.header('host') ?? '';
    // A page from elsewhere that rebinds its name to 127.0.0.1 still sends its own name as Host.
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
      return c.text('berth ui: refused: open the page at 127.0.0.1 (the URL berth ui printed)\n', 403);
    }
    const header = c.req.header('x-berth-token');
    const query = c.req.method === 'GET' ? c.req.query('token') : undefined;
    if (!sameToken(header ?? query, options.token)) {
      return c.text('berth ui: a token is needed: open the URL berth ui printed, with its ?token=\n', 401);
    }
    await next();
    c.header('cache-control', 'no-store');
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'no-referrer');
  };
  app.use('*', guard);

  app.get('/', (c) => {
    const nonce = options.nonce();
    c.header(
      'content-security-policy',
      `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    );
    return c.html(options.page(nonce));
  });

  app.get('/api/state', (c) => c.json(options.live.snapshot()));

  app.get('/api/events', (c) =>
    streamSSE(c, async (stream) => {
      const send = (snapshot: unknown) =>
        void stream.writeSSE({ event: 'state', data: JSON.stringify(snapshot) }).catch(() => {});
      send(options.live.snapshot());
      const stop = options.live.subscribe(send);
      const ping = setInterval(() => void stream.write(': ping\n\n').catch(() => {}), 15_000);
      await new Promise<void>((resolve) => stream.onAbort(resolve));
      clearInterval(ping);
      stop();
    }),
  );

  /** The repository and agent a request names: one this page shows, and a valid name. */
  const target = (c: Context) => {
    const repo = options.live.rootOf(c.req.param('repo') ?? '');
    if (!repo) {
      throw new UsageError('no-such-repo', 'this page shows no such repository', {
        hint: 'reload the page: berth ui shows the repositories it was started for',
      });
    }
    return { repo, name: validateAgentName(c.req.param('name') ?? '') };
  };

  app.get('/api/repos/:repo/agents/:name', async (c) => {
    try {
      const { repo, name } = target(c);
      const entry = await show({ repo, name });
      const [diff, env, logs] = await Promise.all([
        agentDiff({ repo, name }).catch((error) => ({ error: errorLine(error) })),
        agentEnvView({ repo, name, container: true }).catch((error) => ({ error: errorLine(error) })),
        followableLogs({ repo, name }).catch(() => []),
      ]);
      return c.json({ entry, diff, env, logs });
    } catch (error) {
      return failure(c, error);
    }
  });

  app.get('/api/repos/:repo/agents/:name/logs/:source', async (c) => {
    let repo: string;
    let name: string;
    try {
      ({ repo, name } = target(c));
    } catch (error) {
      return failure(c, error);
    }
    const source = c.req.param('source');
    return streamSSE(c, async (stream) => {
      const send = (text: string) => void stream.writeSSE({ event: 'text', data: JSON.stringify(text) });
      let stop = () => {};
      try {
        stop = await followAgentLog({ repo, name, source }, send);
      } catch (error) {
        await stream.writeSSE({ event: 'failure', data: JSON.stringify(errorLine(error)) });
        return;
      }
      await new Promise<void>((resolve) => stream.onAbort(resolve));
      stop();
    });
  });

  app.post('/api/repos/:repo/agents/:name/:action', async (c) => {
    const action = c.req.param('action');
    try {
      const { repo, name } = target(c);
      if (!Object.hasOwn(ACTIONS, action)) {
        throw new UsageError('no-such-action', `there is no action "${action}"`, {
          hint: `actions: ${Object.keys(ACTIONS).join(', ')}`,
        });
      }
      const result = await ACTIONS[action as keyof typeof ACTIONS](repo, name);
      return c.json({ result });
    } catch (error) {
      return failure(c, error);
    }
  });

  app.notFound((c) => c.json({ error: 'berth: error: not found' }, 404));
  return app;
}
