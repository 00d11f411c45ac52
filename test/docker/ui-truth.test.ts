import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../src/core/agent/provision.js';
import { span } from '../../src/plan/duration.js';
import { readState } from '../../src/state/store.js';
import { BIN, berth, listedAgents } from '../helpers/cli.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';
import { eventually } from '../helpers/wait.js';

// What the page says is what is: its first frame, its order, the last task, its ages.
const LIGHT = 'postgres: { enabled: false }\nredis: { enabled: false }\n';
const NAMES = ['hk10', 'hk2', 'hk1'];

let repo: TestRepo;
let ui: ResultPromise<{ reject: false }>;
let url: URL;
let browser: Browser;

beforeAll(async () => {
  repo = await makeRepo({ files: { 'berth.yaml': LIGHT } });
  for (const name of NAMES) await provision({ name, repo: repo.root });
  const ran = await berth(['run', 'hk2', '--repo', repo.root, '--', 'sh', '-c', 'exit 0']);
  expect(ran.exitCode, ran.stderr).toBe(0);
  ui = execa(process.execPath, [BIN, 'ui', '--repo', repo.root], { reject: false });
  let out = '';
  ui.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  url = await eventually(async () => {
    const match = /http:\/\/127\.0\.0\.1:\d+\/\?token=\w+/.exec(out);
    if (!match) throw new Error(`berth ui printed no URL: ${out}`);
    return new URL(match[0]);
  }, 20_000);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
});

afterAll(async () => {
  // Each step bounded: an intermittent hang here (the browser closing, or berth ui ending on SIGINT; not
  // yet told apart) must not keep the repository's agents.
  const within = (promise: Promise<unknown> | undefined) =>
    Promise.race([promise?.then(() => true), sleep(20_000).then(() => false)]);
  await within(browser?.close());
  ui?.kill('SIGINT');
  if (ui && !(await within(ui))) ui.kill('SIGKILL');
  await repo?.cleanup();
});

describe('the page says what is true', () => {
  it('says it is loading until the first state arrives, never that no repository has agents', async () => {
    const page = await browser.newPage();
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The event stream is held back: the page's first frame is all there is meanwhile.
    await page.route('**/api/events**', async (route) => {
      await held;
      await route.continue();
    });
    await page.goto(url.href);
    await expect.poll(() => page.locator('#agents').textContent()).toContain('loading');
    expect(await page.locator('#agents').textContent()).not.toContain('no repository has agents');
    release();
    await page.locator('[data-agent]').first().waitFor({ timeout: 30_000 });
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    await page.close();
  });

  it('lists agents in natural order (hk1, hk2, hk10), as berth ls does', async () => {
    const page = await browser.newPage();
    await page.goto(url.href);
    await page.locator('[data-agent]').first().waitFor();
    const order = await page
      .locator('[data-agent]')
      .evaluateAll((cards) => cards.map((card) => card.getAttribute('data-agent')));
    expect(order).toEqual(['hk1', 'hk2', 'hk10']);
    const ls = await berth(['ls', '--repo', repo.root, '--json']);
    expect(listedAgents(ls).map((agent) => agent.name)).toEqual(['hk1', 'hk2', 'hk10']);
    await page.close();
  });

  it('shows the last task in the detail pane, and says when there is none', async () => {
    const page = await browser.newPage();
    await page.goto(url.href);
    await page.locator('[data-agent="hk2"] a.name').click();
    await expect
      .poll(() => page.locator('#detail-body').textContent(), { timeout: 20_000 })
      .toMatch(
        /last task\s*exited with 0, ended \S+ ago: sh -c exit 0; 0 commit\(s\); on exit: keep -> kept/,
      );
    await page.locator('[data-agent="hk1"] a.name').click();
    await expect
      .poll(() => page.locator('#detail-body').textContent(), { timeout: 20_000 })
      .toMatch(/last task\s*none yet/);
    await page.close();
  });

  it('rounds ages with the function ls uses: made 90 s ago reads 1m', async () => {
    const createdAt = Date.parse(readState(join(repo.root, '.git', 'berth')).agents.hk1?.createdAt ?? '');
    const page = await browser.newPage();
    // The page's clock, 90 s after hk1 was made (its timers run on).
    await page.clock.setFixedTime(createdAt + 90_000);
    await page.goto(url.href);
    const meta = page.locator('[data-agent="hk1"] .meta').first();
    await meta.waitFor();
    expect(span(90_000)).toBe('1m');
    expect(await meta.textContent()).toContain(`made ${span(90_000)} ago`);
    await page.close();
  });
});
