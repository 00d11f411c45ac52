import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { type Browser, chromium, type Page } from 'playwright-core';
import puppeteer from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../src/core/agent/provision.js';
import { readState } from '../../src/state/store.js';
import { BIN, berth } from '../helpers/cli.js';
import { type FleetPlace, fleetPlace, removeQueue, startQueue, startWorker } from '../helpers/fleet.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';
import { eventually } from '../helpers/wait.js';

/** Screenshots land here for people to look at; CI keeps nothing else of a run. */
const ARTIFACTS = new URL('../artifacts/', import.meta.url).pathname;
const SETUP_SAYS = 'hello from the setup hook';

let repo: TestRepo;
let ui: ResultPromise<{ reject: false }>;
let url: URL;
let browser: Browser;
let place: FleetPlace;
let queue: { url: string; port: number; home: string };

async function openPage(viewport = { width: 1280, height: 860 }): Promise<Page> {
  const page = await browser.newPage({ viewport });
  await page.goto(url.href);
  await page.locator('[data-agent]').first().waitFor();
  return page;
}

/** A raw request, so the Host header and the method are ours to choose. */
function raw(options: { path: string; method?: string; headers?: Record<string, string> }) {
  return new Promise<number>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: url.port,
        path: options.path,
        method: options.method ?? 'GET',
        headers: options.headers,
      },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Starts `berth ui` with `args` as a user would, and waits for the URL it prints. */
async function startUiProcess(args: string[], env?: Record<string, string>) {
  const child = execa(process.execPath, [BIN, 'ui', ...args], { reject: false, ...(env && { env }) });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const printed = await eventually(async () => {
    const match = /http:\/\/127\.0\.0\.1:\d+\/\?token=\w+/.exec(out);
    if (!match) throw new Error(`berth ui ${args.join(' ')} printed no URL: ${out}`);
    return new URL(match[0]);
  }, 20_000);
  return { child, url: printed };
}

const worktreeOf = (name: string) => readState(join(repo.root, '.git', 'berth')).agents[name]?.worktree ?? '';

beforeAll(async () => {
  repo = await makeRepo({
    files: { 'berth.yaml': `ports:\n  app: { web: 3000 }\nhooks:\n  setup:\n    - echo ${SETUP_SAYS}\n` },
  });
  await provision({ name: 'a1', repo: repo.root });
  await provision({ name: 'a2', repo: repo.root });
  place = await fleetPlace();
  queue = await startQueue(place.dir);
  ({ child: ui, url } = await startUiProcess(['--repo', repo.root, '--queue', queue.url]));
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  mkdirSync(ARTIFACTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  ui?.kill('SIGINT');
  await ui;
  await repo.cleanup();
  await removeQueue(queue);
  place?.cleanup();
});

describe('berth ui', () => {
  it('serves nothing without the token, nothing to another Host, and no action from the URL token alone', async () => {
    const token = url.searchParams.get('token') ?? '';
    expect(await raw({ path: '/' })).toBe(401);
    expect(await raw({ path: '/?token=wrong' })).toBe(401);
    expect(await raw({ path: '/api/state' })).toBe(401);
    expect(await raw({ path: '/api/events' })).toBe(401);
    expect(await raw({ path: `/?token=${token}` })).toBe(200);
    expect(await raw({ path: `/?token=${token}`, headers: { host: `berth.example:${url.port}` } })).toBe(403);
    const state = (await (await fetch(new URL(`/api/state?token=${token}`, url))).json()) as {
      repos: Array<{ id: string }>;
    };
    const heartbeat = `/api/repos/${state.repos[0]?.id}/agents/a1/heartbeat`;
    expect(await raw({ path: `${heartbeat}?token=${token}`, method: 'POST' })).toBe(401);
    expect(await raw({ path: heartbeat, method: 'POST', headers: { 'x-berth-token': token } })).toBe(200);
  });

  it('lists both agents, and a third provisioned from the CLI appears without a reload', async () => {
    const page = await openPage();
    await expect.poll(() => page.locator('[data-agent]').count()).toBe(2);
    // The app's port is a link to the app; Postgres and Redis are shown, not linked.
    const web = readState(join(repo.root, '.git', 'berth')).agents.a1?.ports.web;
    expect(await page.locator('[data-agent="a1"] a.port').getAttribute('href')).toBe(
      `http://127.0.0.1:${web}/`,
    );
    expect(await page.locator('[data-agent="a1"] a.port').count()).toBe(1);
    await page.evaluate(() => {
      (globalThis as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    expect((await berth(['provision', 'a3', '--repo', repo.root])).exitCode).toBe(0);
    await page.locator('[data-agent="a3"]').waitFor({ timeout: 30_000 });
    await expect
      .poll(() => page.locator('[data-agent="a3"] .badge').first().textContent(), { timeout: 30_000 })
      .toBe('running');
    expect(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded)).toBe(
      true,
    );
    await page.close();
  });

  it('opens an agent: its setup log, a commit made in it, its env masked; screenshots at laptop and phone width', async () => {
    const worktree = worktreeOf('a1');
    writeFileSync(join(worktree, 'notes.md'), 'work\n');
    await execa('git', ['-C', worktree, 'add', 'notes.md']);
    await execa('git', ['-C', worktree, 'commit', '-qm', 'Write the notes down']);
    for (const [label, viewport, scheme] of [
      ['laptop', { width: 1280, height: 860 }, 'light'],
      ['phone', { width: 390, height: 844 }, 'dark'],
    ] as const) {
      const page = await openPage(viewport);
      await page.emulateMedia({ colorScheme: scheme });
      await page.screenshot({ path: join(ARTIFACTS, `ui-list-${label}.png`), fullPage: true });
      await page.locator('[data-agent="a1"] a.name').click();
      await expect.poll(() => page.locator('#log').textContent(), { timeout: 20_000 }).toContain(SETUP_SAYS);
      await expect.poll(() => page.locator('.commits').textContent()).toContain('Write the notes down');
      const env = (await page.locator('table.env').textContent()) ?? '';
      expect(env).toContain('PGPASSWORD***');
      expect(env).not.toContain(readState(join(repo.root, '.git', 'berth')).agents.a1?.passwords.postgres);
      await page.screenshot({ path: join(ARTIFACTS, `ui-agent-${label}.png`) });
      await page.close();
    }
  });

  it('works in Firefox too: the list, and an agent opened with its log followed', async () => {
    // Playwright's Firefox is a patched build it downloads; Puppeteer drives Debian's over WebDriver BiDi.
    const firefox = await puppeteer.launch({ browser: 'firefox', executablePath: '/usr/bin/firefox-esr' });
    try {
      const page = await firefox.newPage();
      await page.setViewport({ width: 1024, height: 800 });
      await page.goto(url.href);
      await page.waitForSelector('[data-agent="a1"]');
      expect(await page.$$eval('[data-agent]', (cards) => cards.length)).toBe(3);
      await page.click('[data-agent="a1"] a.name');
      await page.waitForFunction(
        `document.getElementById('log')?.textContent?.includes(${JSON.stringify(SETUP_SAYS)})`,
        { timeout: 20_000 },
      );
      expect(await page.$eval('.commits', (list) => list.textContent)).toContain('Write the notes down');
      await page.screenshot({ path: join(ARTIFACTS, 'ui-agent-firefox.png') });
    } finally {
      await firefox.close();
    }
  });

  it('tears an agent down from the page after a confirm, and refuses while it has uncommitted changes', async () => {
    const page = await openPage();
    const draft = join(worktreeOf('a2'), 'draft.txt');
    writeFileSync(draft, 'not committed\n');
    await page.locator('[data-agent="a2"] a.name').click();
    await page.locator('button[data-action="teardown"]').click();
    await page.locator('#confirm-ok').click();
    await expect
      .poll(() => page.locator('#message').textContent(), { timeout: 30_000 })
      .toMatch(/uncommitted/);
    expect(await page.locator('#message').getAttribute('class')).toBe('error');
    expect(readState(join(repo.root, '.git', 'berth')).agents.a2).toBeDefined();
    expect(await page.locator('[data-agent="a2"]').count()).toBe(1);

    rmSync(draft);
    await page.locator('button[data-action="teardown"]').click();
    await page.locator('#confirm-ok').click();
    await expect
      .poll(() => page.locator('#message').textContent(), { timeout: 60_000 })
      .toMatch(/^torn down/);
    await expect.poll(() => page.locator('[data-agent="a2"]').count(), { timeout: 30_000 }).toBe(0);
    expect(readState(join(repo.root, '.git', 'berth')).agents.a2).toBeUndefined();
    await page.close();
  });

  it('the fleet tab shows the queue, its hosts and its tasks as they move', async () => {
    const page = await openPage();
    await page.locator('#tab-fleet').click();
    const submitted = await berth([
      'fleet',
      'submit',
      '--queue',
      queue.url,
      '--repo',
      place.remote,
      '--name',
      'ui-task',
      '--',
      'true',
    ]);
    expect(submitted.exitCode, submitted.stderr).toBe(0);
    await expect
      .poll(() => page.locator('#fleet').textContent(), { timeout: 20_000 })
      .toMatch(/ui-taskwaiting/);
    const worker = startWorker(place, queue.url, 'ui-host');
    await expect
      .poll(() => page.locator('#fleet').textContent(), { timeout: 150_000 })
      .toMatch(/ui-taskcompleted/);
    expect(await page.locator('#fleet').textContent()).toContain('ui-host');
    await page.screenshot({ path: join(ARTIFACTS, 'ui-fleet-laptop.png') });
    worker.process.kill('SIGTERM');
    expect((await worker.process).exitCode, worker.stderr()).toBe(0);
    await page.close();
  });

  it('--all shows every repository with agents on this host, and takes no --repo beside it', async () => {
    const { child: all, url: found } = await startUiProcess(['--all']);
    try {
      const api = new URL(`/api/state?token=${found.searchParams.get('token')}`, found);
      await eventually(async () => {
        const state = (await (await fetch(api)).json()) as { repos: Array<{ root: string }> };
        expect(state.repos.map((r) => r.root)).toContain(repo.root);
      }, 20_000);
    } finally {
      all.kill('SIGINT');
      expect((await all).exitCode).toBe(0);
    }
    const both = await berth(['ui', '--all', '--repo', repo.root]);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toMatch(/--repo and --all cannot be used together/);
  });

  it('a port in use is a one-line error, and berth ends at once', async () => {
    const taken = await berth(['ui', '--repo', repo.root, '--port', url.port]);
    expect(taken.exitCode).toBe(2);
    expect(taken.stderr).toBe(
      `berth: error: port ${url.port} on 127.0.0.1 is in use (hint: pick another with --port, or leave --port out for a free one)`,
    );
  });

  it('--open hands the desktop`s opener a private file that leads to the URL, keeping the token out of ps', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'berth-opener-'));
    const opened = join(bin, 'opened');
    writeFileSync(join(bin, 'xdg-open'), `#!/bin/sh\nprintf '%s' "$1" > ${opened}\n`, { mode: 0o755 });
    const { child: run, url: printed } = await startUiProcess(['--repo', repo.root, '--open'], {
      PATH: `${bin}:${process.env.PATH}`,
    });
    try {
      // The opener gets a file only this user reads, never the token on its command line (`ps`).
      const file = await eventually(async () => readFileSync(opened, 'utf8'), 10_000);
      expect(file).not.toContain('token=');
      expect((statSync(file).mode & 0o777).toString(8)).toBe('600');
      expect(readFileSync(file, 'utf8')).toContain(`content="0;url=${printed.href}"`);
    } finally {
      run.kill('SIGINT');
      await run;
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
