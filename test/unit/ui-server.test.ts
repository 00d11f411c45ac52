import { describe, expect, it } from 'vitest';
import { span } from '../../src/plan/duration.js';
import type { LiveView } from '../../src/ui/live.js';
import { pageWith } from '../../src/ui/page.js';
import { uiApp } from '../../src/ui/server.js';

const TOKEN = 'a'.repeat(48);
const PORT = 41_234;
const live = {
  snapshot: () => ({ repos: [{ id: 'r1', root: '/nowhere', name: 'nowhere', agents: [] }] }),
  rootOf: (id: string) => (id === 'r1' ? '/nowhere' : undefined),
  subscribe: () => () => {},
} as unknown as LiveView;
const app = uiApp({
  live,
  token: TOKEN,
  port: () => PORT,
  page: (nonce) => `<p>page ${nonce}</p>`,
  nonce: () => 'n0nce',
});

function ask(path: string, init: { method?: string; headers?: Record<string, string> } = {}) {
  return app.request(`http://127.0.0.1:${PORT}${path}`, {
    method: init.method ?? 'GET',
    headers: { host: `127.0.0.1:${PORT}`, ...init.headers },
  });
}

describe('berth ui: who is served', () => {
  it('serves the page with the token in the URL, under a policy that runs only its own inline script', async () => {
    const page = await ask(`/?token=${TOKEN}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toBe('<p>page n0nce</p>');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'nonce-n0nce'");
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.headers.get('cache-control')).toBe('no-store');
  });

  it('refuses a request without the token, with a wrong one, or one of another length', async () => {
    expect((await ask('/')).status).toBe(401);
    expect((await ask(`/?token=${'b'.repeat(48)}`)).status).toBe(401);
    expect((await ask(`/api/state?token=${TOKEN}x`)).status).toBe(401);
    expect((await ask('/api/state', { headers: { 'x-berth-token': TOKEN } })).status).toBe(200);
  });

  it('refuses another Host (a rebound name) even with the token, and localhost on the same port is fine', async () => {
    const rebound = await ask(`/?token=${TOKEN}`, { headers: { host: `attacker.example:${PORT}` } });
    expect(rebound.status).toBe(403);
    expect((await ask(`/?token=${TOKEN}`, { headers: { host: `127.0.0.1:${PORT + 1}` } })).status).toBe(403);
    expect((await ask(`/?token=${TOKEN}`, { headers: { host: `localhost:${PORT}` } })).status).toBe(200);
  });

  it('takes an action only with the token in its header: a form or link from another page cannot carry it', async () => {
    const fromUrl = await ask(`/api/repos/r1/agents/a1/heartbeat?token=${TOKEN}`, { method: 'POST' });
    expect(fromUrl.status).toBe(401);
  });

  it('answers unknown repositories, actions and bad names with a one-line error, and runs nothing', async () => {
    const headers = { 'x-berth-token': TOKEN };
    const other = await ask('/api/repos/r2/agents/a1/heartbeat', { method: 'POST', headers });
    expect(other.status).toBe(404);
    const action = await ask('/api/repos/r1/agents/a1/format-disk', { method: 'POST', headers });
    expect(action.status).toBe(404);
    expect(((await action.json()) as { error: string }).error).toBe(
      'berth: error: there is no action "format-disk" (hint: actions: heartbeat, sync, teardown, db-reset)',
    );
    const name = await ask('/api/repos/r1/agents/..%2Fetc/heartbeat', { method: 'POST', headers });
    expect(name.status).toBe(400);
    expect(((await name.json()) as { error: string }).error).toMatch(
      /^berth: error: invalid agent name "..\/etc" \(hint: /,
    );
  });
});

describe('the page', () => {
  it('inlines its style and script under the nonce, and keeps a $ in them as written', () => {
    const html = pageWith(
      { html: '<head><!-- style --></head><!-- script -->', css: 'a{}', js: "x('$&')" },
      'N',
    );
    expect(html).toMatch(/^<head><style nonce="N">\na{}<\/style><\/head><script type="module" nonce="N">\n/);
    expect(html.endsWith(`x('$&')</script>`)).toBe(true);
  });

  it('gives its script the very span `berth ls` rounds ages with', () => {
    const html = pageWith({ html: '<!-- script -->', css: '', js: 'globalThis.spanOfPage = span;' }, 'N');
    const script = html.replace(/^<script[^>]*>\n/, '').replace(/<\/script>$/, '');
    new Function(script)();
    const pageSpan = (globalThis as unknown as { spanOfPage: (ms: number) => string }).spanOfPage;
    for (const ms of [0, 59_400, 90_000, 119_000, 5_399_000, 90_000_000, -90_000])
      expect(pageSpan(ms)).toBe(span(ms));
    expect(pageSpan(90_000)).toBe('1m');
  });
});
