import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ComposeCli, surveyCompose } from '../../src/adapters/compose.js';
import { berth, listedAgents, resultOf } from '../helpers/cli.js';
import { leftovers, NOTHING } from '../helpers/leftovers.js';
import { makeRepo, type TestRepo } from '../helpers/repo.js';

/** A dollar sign: compose's own ${...} in a template string. */
const D = '$';

// Users drive berth's stacks with their own Compose, v2 or v1: every test here runs under both.
const installed = (await surveyCompose()).found;
const LITERAL = `a$$b $HOME ${D}{HOME} ${D}{PATH:-x}`;

describe.each(['v2', 'v1'] as const)('under Compose %s', (variant) => {
  const cli = installed.find((c) => c.variant === variant) as ComposeCli;
  const env = { BERTH_COMPOSE: variant };
  let repo: TestRepo;
  beforeAll(async () => {
    repo = await makeRepo();
  });
  afterAll(() => repo?.cleanup());

  const compose = (agent: { composeProject: string; composeFile: string }, ...args: string[]) => {
    const [program, ...prefix] = cli.command;
    return execa(program, [...prefix, '-p', agent.composeProject, '-f', agent.composeFile, ...args], {
      reject: false,
    });
  };

  it('is installed on this host', () => {
    expect(cli, `Compose ${variant} is not installed: run berth host init --install`).toBeDefined();
  });

  it("accepts berth's compose file, and ps, logs and down work on the stack berth started", async () => {
    const made = await berth(['provision', 'users', '--repo', repo.root, '--json'], { env });
    expect(made.exitCode, made.stderr).toBe(0);
    const { agent } = resultOf(made, 'provision');

    const config = await compose(agent, 'config', '-q');
    expect(config.exitCode, config.stderr).toBe(0);
    const ps = await compose(agent, 'ps', '-q');
    expect(ps.stdout.trim().split('\n'), ps.stderr).toHaveLength(3);
    const logs = await compose(agent, 'logs', '--no-color', 'redis');
    expect(logs.exitCode, logs.stderr).toBe(0);
    expect(logs.stdout).toMatch(/Ready to accept connections/i);

    const down = await compose(agent, 'down', '-v');
    expect(down.exitCode, down.stderr).toBe(0);
    expect((await leftovers(repo.root, 'users')).containers).toBe(0);
    // berth tells the truth about a stack the user took down, and still tears the agent down cleanly.
    const listed = listedAgents(await berth(['ls', '--repo', repo.root, '--json'], { env }));
    expect(listed).toEqual([
      expect.objectContaining({
        name: 'users',
        state: 'missing',
        health: 'agent missing, postgres missing, redis missing',
      }),
    ]);
    const up = await compose(agent, 'up', '-d');
    expect(up.exitCode, up.stderr).toBe(0);
    const again = listedAgents(await berth(['ls', '--repo', repo.root, '--json'], { env }));
    expect(again[0]).toMatchObject({ name: 'users', state: 'running' });
    const teardown = await berth(['teardown', 'users', '--repo', repo.root], { env });
    expect(teardown.exitCode, teardown.stderr).toBe(0);
    expect(await leftovers(repo.root, 'users')).toEqual(NOTHING);
  });

  it('creates the stack with `compose up` when the config says apply: compose', async () => {
    const config = join(repo.root, '..', 'apply-compose.yaml');
    // Values with $ are the user's literal text: Compose must not read them as its own variables
    // (taking them from berth's environment), under either way of applying.
    writeFileSync(config, `apply: compose\nagent:\n  env:\n    LITERAL: "${LITERAL}"\n`);
    const made = await berth(['provision', 'composed', '--repo', repo.root, '--config', config, '--json'], {
      env,
    });
    expect(made.exitCode, made.stderr).toBe(0);
    const { agent } = resultOf(made, 'provision');
    const listed = listedAgents(await berth(['ls', '--repo', repo.root, '--json'], { env }));
    expect(listed[0]).toMatchObject({ name: 'composed', state: 'running', health: 'ok' });
    const ps = await compose(agent, 'ps', '-q');
    expect(ps.stdout.trim().split('\n')).toHaveLength(3);
    const exec = await berth(['exec', 'composed', '--repo', repo.root, '--', 'git', 'status', '--short'], {
      env,
    });
    expect(exec.exitCode, exec.stderr).toBe(0);
    const printed = await berth(['exec', 'composed', '--repo', repo.root, '--', 'printenv', 'LITERAL'], {
      env,
    });
    expect(printed.stdout.trim(), printed.stderr).toBe(LITERAL);
    expect((await berth(['teardown', 'composed', '--repo', repo.root], { env })).exitCode).toBe(0);
    expect(await leftovers(repo.root, 'composed')).toEqual(NOTHING);
  });
});
