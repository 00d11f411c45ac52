import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, loadConfigWithText, parseConfig } from '../../src/config/load.js';
import { agentBuildTag } from '../../src/core/agent/agent-image.js';
import {
  devcontainerOrThrow,
  parseJsonc,
  planDevcontainer,
  withCompose,
  withWorkspace,
} from '../../src/plan/devcontainer.js';

/** A dollar sign: compose's and devcontainer's own ${...} in a template string. */
const D = '$';
const PATH = '.devcontainer/devcontainer.json';

describe('devcontainer.json', () => {
  it('is read as JSON with comments and trailing commas', () => {
    const plan = planDevcontainer(
      `// the team's container
{
  /* the image */
  "image": "berth-offline/agent:test", // trailing comments too
  "containerEnv": { "A": "1", },
  "forwardPorts": [3000, 5173,],
}`,
      PATH,
    );
    expect(plan.errors).toEqual([]);
    expect(plan.fields).toEqual({
      agent: { image: 'berth-offline/agent:test', env: { A: '1' } },
      ports: { app: { port_3000: 3000, port_5173: 5173 } },
    });
  });

  it('says where its syntax is wrong, in one line', () => {
    expect(() => parseJsonc('{\n  "image": "x"\n  "remoteUser": "node"\n}', PATH)).toThrow(
      '.devcontainer/devcontainer.json is not valid JSON with comments at line 3, column 3: CommaExpected',
    );
    expect(() => parseJsonc('[1]', PATH)).toThrow('is not a JSON object');
  });

  it('takes containerEnv and remoteEnv (remoteEnv wins), and leaves out what names the host', () => {
    const plan = planDevcontainer(
      JSON.stringify({
        image: 'x',
        containerEnv: { A: 'container', B: 'b', HOME_DIR: `${D}{localEnv:HOME}` },
        remoteEnv: {
          A: 'remote',
          PATH: `${D}{containerEnv:PATH}:/extra`,
          W: `${D}{containerWorkspaceFolder}/bin`,
        },
      }),
      PATH,
    );
    expect(plan.fields.agent?.env).toEqual({ A: 'remote', B: 'b', W: `${D}{containerWorkspaceFolder}/bin` });
    expect(plan.notes).toEqual([
      `containerEnv.HOME_DIR: ${D}{localEnv:HOME} would come from the host's environment, which decides nothing in an agent; left out`,
      `remoteEnv.PATH: ${D}{containerEnv:PATH} is not substituted in a variable's value; left out`,
    ]);
  });

  it("fills in the workspace variables with the agent's worktree, the same path inside and out", () => {
    const text = `cd ${D}{containerWorkspaceFolder} && ls ${D}{localWorkspaceFolder}/a ${D}{containerWorkspaceFolderBasename} ${D}{localWorkspaceFolderBasename} ${D}{HOME}`;
    expect(withWorkspace(text, '/srv/app.worktrees/ada')).toBe(
      `cd /srv/app.worktrees/ada && ls /srv/app.worktrees/ada/a ada ada ${D}{HOME}`,
    );
  });

  it("runs lifecycle commands with the container's variables, and refuses the host's", () => {
    const plan = planDevcontainer(
      JSON.stringify({
        image: 'x',
        onCreateCommand: `echo ${D}{containerEnv:HOME} ${D}{containerEnv:LANG:C.UTF-8}`,
        postCreateCommand: ['ls', `${D}{containerEnv:HOME}/it's`, `${D}{containerWorkspaceFolder}`],
      }),
      PATH,
    );
    expect(plan.errors).toEqual([]);
    expect(plan.fields.hooks?.setup).toEqual([
      `echo ${D}{HOME} ${D}{LANG:-C.UTF-8}`,
      `ls "${D}{HOME}"'/it'\\''s' '${D}{containerWorkspaceFolder}'`,
    ]);
    const local = planDevcontainer(
      JSON.stringify({ image: 'x', postCreateCommand: { a: `echo ${D}{localEnv:AWS_SECRET_ACCESS_KEY}` } }),
      PATH,
    );
    expect(local.errors).toEqual([
      `postCreateCommand.a: ${D}{localEnv:AWS_SECRET_ACCESS_KEY} would come from the host's environment, which decides nothing in an agent`,
    ]);
  });

  it('runs its lifecycle commands (string, array and object forms) as setup hooks, in order', () => {
    const plan = planDevcontainer(
      JSON.stringify({
        image: 'x',
        postStartCommand: ['touch', 'started here'],
        postCreateCommand: { deps: 'npm ci', build: ['npm', 'run', 'build'] },
        onCreateCommand: 'echo created',
      }),
      PATH,
    );
    expect(plan.fields.hooks?.setup).toEqual([
      'echo created',
      'npm ci',
      'npm run build',
      "touch 'started here'",
    ]);
  });

  it('forwards localhost ports, and leaves out a build arg from the host', () => {
    const plan = planDevcontainer(
      JSON.stringify({
        build: { dockerfile: 'Dockerfile', args: { HOME_DIR: `${D}{localEnv:HOME}`, V: '1' } },
        forwardPorts: ['localhost:3000', '127.0.0.1:4000'],
      }),
      PATH,
    );
    expect(plan.errors).toEqual([]);
    expect(plan.fields.ports?.app).toEqual({ port_3000: 3000, port_4000: 4000 });
    expect(plan.fields.agent?.build?.args).toEqual({ V: '1' });
    expect(plan.notes).toContain(
      `build.args.HOME_DIR: ${D}{localEnv:HOME} is not substituted (the host's environment decides nothing in an agent); left out`,
    );
  });

  it('says what remoteUser does, and lists keys it does not use once', () => {
    const plan = planDevcontainer(
      JSON.stringify({
        name: 'app',
        image: 'x',
        remoteUser: 'node',
        customizations: { vscode: {} },
        initializeCommand: 'rm -rf ~',
        postAttachCommand: 'echo',
        forwardPorts: ['db:3306'],
      }),
      PATH,
    );
    expect(plan.errors).toEqual([]);
    expect(plan.fields.hooks).toBeUndefined();
    expect(plan.notes).toEqual([
      'name: not used',
      'customizations: not used',
      'initializeCommand: not run (it runs on the host; devcontainer.json decides nothing there)',
      "remoteUser: not used (berth runs the agent's container and commands as the worktree's owner, so the files it writes stay theirs)",
      'postAttachCommand: not used (berth attaches nothing)',
      "forwardPorts: db:3306 not forwarded (a service's ports are leased on the host already)",
    ]);
  });

  it('builds from a Dockerfile relative to its folder, inside the repository', () => {
    const plan = planDevcontainer(
      JSON.stringify({ build: { dockerfile: 'Dockerfile', context: '..', args: { V: 1 } } }),
      PATH,
    );
    expect(plan.fields.agent?.build).toEqual({
      context: '.',
      dockerfile: '.devcontainer/Dockerfile',
      args: { V: '1' },
    });
    expect(
      planDevcontainer(JSON.stringify({ build: { dockerfile: 'Dockerfile', context: '../..' } }), PATH)
        .errors,
    ).toEqual(['build.context: ../.. is outside the repository']);
  });

  it('refuses features: no registry is reachable, and it names each', () => {
    const plan = planDevcontainer(
      JSON.stringify({
        image: 'x',
        features: { 'ghcr.io/devcontainers/features/node:1': {}, './local-feature': {} },
      }),
      PATH,
    );
    expect(plan.errors).toEqual([
      'features: "ghcr.io/devcontainers/features/node:1" comes from a feature registry, and no registry is reachable from berth; install it in the image instead',
      'features: "./local-feature" is a local feature, which berth does not install; install it in the image instead',
    ]);
    expect(() => devcontainerOrThrow(plan, PATH)).toThrow('2 settings berth cannot use');
  });

  it('takes the compose service as the agent and runServices as services', () => {
    const plan = planDevcontainer(
      JSON.stringify({
        dockerComposeFile: ['docker-compose.yml'],
        service: 'app',
        runServices: ['mariadb', 'memcached'],
        remoteEnv: { APP_ENV: 'dev' },
        forwardPorts: [8000],
      }),
      PATH,
    );
    expect(plan.compose).toEqual({
      files: ['.devcontainer/docker-compose.yml'],
      service: 'app',
      runServices: ['mariadb', 'memcached'],
    });
    const merged = withCompose(plan, [
      {
        path: '.devcontainer/docker-compose.yml',
        text: `
services:
  app:
    image: berth-offline/agent:test
    command: sleep infinity
    environment: { APP_ENV: compose, DB_HOST: mariadb }
    ports: ["3000:3000"]
  mariadb: { image: mariadb:11, ports: ["3306"] }
  memcached: { image: memcached, ports: ["11211"] }
  mailpit: { image: mailpit }
`,
      },
    ]);
    expect(merged.errors).toEqual([]);
    expect(merged.fields.agent).toEqual({
      image: 'berth-offline/agent:test',
      command: ['sleep', 'infinity'],
      env: { APP_ENV: 'dev', DB_HOST: 'mariadb' },
    });
    expect(merged.fields.ports?.app).toEqual({ port_3000: 3000, port_8000: 8000 });
    expect(Object.keys(merged.fields.services ?? {})).toEqual(['mariadb', 'memcached']);
  });

  it('refuses a compose file outside the repository, and service without dockerComposeFile', () => {
    expect(
      planDevcontainer(JSON.stringify({ dockerComposeFile: '../../compose.yml', service: 'app' }), PATH)
        .errors,
    ).toEqual(['dockerComposeFile: ../../compose.yml is outside the repository']);
    expect(planDevcontainer(JSON.stringify({ image: 'x', service: 'app' }), PATH).errors).toEqual([
      'service and runServices: they need dockerComposeFile',
    ]);
  });
});

describe('berth.yaml with the repository`s devcontainer.json and compose file', () => {
  let root = '';
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  const repo = () => {
    root = mkdtempSync(join(tmpdir(), 'berth-devcontainer-'));
    return root;
  };
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("hashes a build context's links as links, the way docker build sends them, and refuses a FIFO", async () => {
    repo();
    write('.devcontainer/Dockerfile', 'FROM x\n');
    symlinkSync('/nonexistent', join(root, '.devcontainer/dangling'));
    symlinkSync('/etc', join(root, '.devcontainer/folder'));
    const build = { context: '.devcontainer', dockerfile: '.devcontainer/Dockerfile', args: {} };
    const tag = agentBuildTag(root, build);
    expect(tag).toMatch(/^berth-build\/agent:[0-9a-f]{16}$/);
    expect(agentBuildTag(root, build)).toBe(tag);
    rmSync(join(root, '.devcontainer/dangling'));
    symlinkSync('/elsewhere', join(root, '.devcontainer/dangling'));
    expect(agentBuildTag(root, build)).not.toBe(tag);
    await execa('mkfifo', [join(root, '.devcontainer/pipe')]);
    expect(() => agentBuildTag(root, build)).toThrow(
      'agent.build.context: .devcontainer/pipe is not a file, a folder or a link',
    );
  });

  it("takes the devcontainer's fields under berth.yaml's: berth.yaml wins field by field, maps merge", () => {
    repo();
    write(
      PATH,
      '{ "image": "dev-image", "containerEnv": { "A": "dev", "B": "dev" }, "postCreateCommand": "make", "forwardPorts": [3000], }',
    );
    write('berth.yaml', 'agent:\n  env: { A: berth }\nports:\n  app: { web: 8080 }\n');
    const notes: string[] = [];
    const config = loadConfig(root, undefined, { notes: (line) => notes.push(line) });
    expect(config.agent.image).toBe('dev-image');
    expect(config.agent.env).toEqual({ A: 'berth', B: 'dev' });
    expect(config.hooks.setup).toEqual(['make']);
    expect(config.ports.app).toEqual({ port_3000: 3000, web: 8080 });
    expect(notes).toEqual([]);
  });

  it('is left out with devcontainer: false, and another file is taken with devcontainer: PATH', () => {
    repo();
    write(PATH, '{ "image": "dev-image" }');
    write('.devcontainer/other/devcontainer.json', '{ "image": "other-image" }');
    write('berth.yaml', 'devcontainer: false\n');
    expect(loadConfig(root).agent.image).not.toBe('dev-image');
    write('berth.yaml', 'devcontainer: .devcontainer/other/devcontainer.json\n');
    expect(loadConfig(root).agent.image).toBe('other-image');
    expect(loadConfig(root, undefined, { devcontainer: join(root, PATH) }).agent.image).toBe('dev-image');
    // A file checked apart from its repository (the fleet worker's) reads nothing it imports.
    expect(loadConfig(root, undefined, { imports: false, devcontainer: PATH }).agent.image).not.toBe(
      'dev-image',
    );
    expect(() => loadConfig(root, undefined, { devcontainer: '/etc/devcontainer.json' })).toThrow(
      'devcontainer: /etc/devcontainer.json is outside the repository',
    );
  });

  it("reads nothing from the repository's git folder, which agents write and berth keeps its state in", () => {
    repo();
    write('.git/evil/devcontainer.json', '{ "containerEnv": { "EVIL": "1" } }');
    write('.git/berth/agents/other/host.env', 'PGPASSWORD=theirs\n');
    expect(() => loadConfig(root, undefined, { devcontainer: '.git/evil/devcontainer.json' })).toThrow(
      'devcontainer: .git/evil/devcontainer.json is outside the repository',
    );
    write('docker-compose.yml', 'services:\n  a: { image: x, env_file: .git/berth/agents/other/host.env }\n');
    write('berth.yaml', 'services: { from: docker-compose.yml }\n');
    expect(() => loadConfig(root)).toThrow(
      'env_file: .git/berth/agents/other/host.env is outside the repository',
    );
    symlinkSync(join(root, '.git/berth/agents/other/host.env'), join(root, 'linked.env'));
    write('docker-compose.yml', 'services:\n  a: { image: x, env_file: linked.env }\n');
    expect(() => loadConfig(root)).toThrow('linked.env leads (through a link) outside');
    const plan = planDevcontainer(
      JSON.stringify({ build: { dockerfile: 'Dockerfile', context: '../.git/evil' } }),
      PATH,
    );
    expect(plan.errors).toContain('build.context: ../.git/evil is outside the repository');
  });

  it('refuses a folder or a FIFO where it reads a file, in one line, without blocking', async () => {
    repo();
    write('docker-compose.yml', 'services:\n  a: { image: x }\n');
    write('berth.yaml', 'services: { from: docker-compose.yml }\n');
    mkdirSync(join(root, '.env'));
    expect(() => loadConfig(root)).toThrow('.env in');
    rmSync(join(root, '.env'), { recursive: true });
    await execa('mkfifo', [join(root, '.env')]);
    expect(() => loadConfig(root)).toThrow('is not a regular file');
  });

  it('says a bad field the compose file gave came from it, not from berth.yaml alone', () => {
    repo();
    write(
      'docker-compose.yml',
      'services:\n  a: { image: x, depends_on: [b] }\n  b: { image: x, depends_on: [a] }\n',
    );
    write('berth.yaml', 'services: { from: docker-compose.yml }\n');
    expect(() => loadConfig(root)).toThrow(
      'berth.yaml (with what devcontainer.json and compose files gave) has 2 bad field(s)',
    );
  });

  it('says a file that leads (through a link) outside the repository is outside, not missing', () => {
    repo();
    const outside = mkdtempSync(join(tmpdir(), 'berth-outside-'));
    try {
      writeFileSync(join(outside, 'compose.yml'), 'services:\n  a: { image: x }\n');
      symlinkSync(join(outside, 'compose.yml'), join(root, 'linked.yml'));
      write('berth.yaml', 'services: { from: linked.yml }\n');
      expect(() => loadConfig(root)).toThrow('linked.yml leads (through a link) outside the repository');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('keeps a copy that gives the same config without reading the imported files again', () => {
    repo();
    write(PATH, '{ "image": "dev-image", "postCreateCommand": "make", }');
    write('berth.yaml', '# ours\nagent: { env: { A: "1" } }\n');
    const { config, text } = loadConfigWithText(root);
    expect(text).toContain('devcontainer: false');
    expect(parseConfig(text, 'the copy')).toEqual({ ...config, devcontainer: false });
    expect(config.agent.image).toBe('dev-image');
    write('berth.yaml', '# ours\ndevcontainer: false\n');
    expect(loadConfigWithText(root).text).toBe('# ours\ndevcontainer: false\n');
  });

  it('fails in one line for a devcontainer.json berth cannot use', () => {
    repo();
    write(
      '.devcontainer.json',
      '{ "image": "x", "features": { "ghcr.io/devcontainers/features/go:1": {} } }',
    );
    expect(() => loadConfig(root)).toThrow(
      '.devcontainer.json: features: "ghcr.io/devcontainers/features/go:1" comes from a feature registry',
    );
  });

  it('reads the compose file a devcontainer names, relative to it', () => {
    repo();
    write(PATH, '{ "dockerComposeFile": "compose.yml", "service": "app", "runServices": [] }');
    write(
      '.devcontainer/compose.yml',
      'services:\n  app: { image: app-image, environment: { X: "1" }, privileged: true }\n',
    );
    expect(() => loadConfig(root)).toThrow(
      'services.app.privileged: a privileged container can take over the host',
    );
    write(
      '.devcontainer/compose.yml',
      'services:\n  app: { image: app-image, environment: { X: "1" }, container_name: app }\n',
    );
    const notes: string[] = [];
    const config = loadConfig(root, undefined, { notes: (line) => notes.push(line) });
    expect(config.agent.image).toBe('app-image');
    expect(config.agent.env).toEqual({ X: '1' });
    expect(notes).toEqual([
      ".devcontainer/compose.yml: services.app.container_name: dropped (each agent's copy has berth's name)",
    ]);
  });

  it('refuses services.from outside the repository, and a file that is not there', () => {
    repo();
    write('berth.yaml', 'services: { from: ../compose.yml }\n');
    expect(() => loadConfig(root)).toThrow('services.from: ../compose.yml is outside the repository');
    write('berth.yaml', 'services: { from: compose.yml, only: [db] }\n');
    expect(() => loadConfig(root)).toThrow('services.from: compose.yml does not exist');
    write('compose.yml', 'services:\n  db: { image: x, network_mode: host }\n');
    expect(() => loadConfig(root)).toThrow(
      'compose.yml: services.db.network_mode: host networking is not per agent',
    );
    write('compose.yml', 'services:\n  web: { image: x }\n');
    expect(() => loadConfig(root)).toThrow('compose.yml: only: compose.yml has no service "db"');
  });
});
