import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';
import { BIN, berth, listedAgents } from '../helpers/cli.js';

const demoDir = mkdtempSync(join(tmpdir(), 'berth-demo-'));
const repo = join(demoDir, 'notes-app');

afterAll(async () => {
  const listed = await berth(['ls', '--repo', repo, '--json']);
  for (const agent of listed.exitCode === 0 ? listedAgents(listed) : []) {
    await berth(['teardown', agent.name, '--repo', repo, '--force']);
  }
  rmSync(demoDir, { recursive: true, force: true });
});

it("the README's main job provisions three agents on the example app and lists them", async () => {
  const demo = await execa('bash', ['examples/demo.sh'], { env: { BERTH_DEMO_DIR: demoDir }, reject: false });
  expect(demo.exitCode, demo.stderr).toBe(0);
  expect(demo.stdout).toMatch(/^agent-1\s+berth\/agent-1\s+running\s+ok/m);
  const listed = listedAgents(await berth(['ls', '--repo', repo, '--json']));
  expect(listed.map((a: { name: string; state: string }) => `${a.name} ${a.state}`)).toEqual([
    'agent-1 running',
    'agent-2 running',
    'agent-3 running',
  ]);

  // The hints it prints work as printed, with berth on the PATH (as npm link puts it there).
  expect(demo.stdout).toMatch(/^Try, with berth on your PATH/m);
  const bin = join(demoDir, 'bin');
  mkdirSync(bin);
  symlinkSync(BIN, join(bin, 'berth'));
  const hints = demo.stdout.split('\n').filter((line) => line.startsWith('  berth '));
  expect(hints).toHaveLength(2);
  for (const hint of hints) {
    const run = await execa('sh', ['-c', hint.trim()], {
      cwd: tmpdir(),
      env: { PATH: `${bin}:${process.env.PATH}` },
      reject: false,
    });
    expect(run.exitCode, `${hint}: ${run.stderr}`).toBe(0);
  }
  const after = listedAgents(await berth(['ls', '--repo', repo, '--json']));
  expect(after.map((a: { name: string }) => a.name)).toEqual(['agent-1', 'agent-2']);
});
