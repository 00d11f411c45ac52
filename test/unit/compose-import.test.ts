import { describe, expect, it } from 'vitest';
import { composeServicesOrThrow, importCompose, shellWords } from '../../src/plan/compose-import.js';

/** A dollar sign: compose's and devcontainer's own ${...} in a template string. */
const D = '$';
const file = (text: string, path = 'docker-compose.yml') => [{ path, text }];
const importText = (text: string, options = {}) => importCompose(file(text), options);

describe('importing services from a compose file', () => {
  it('takes image, environment (both forms), command, ports, healthcheck, volumes and depends_on', () => {
    const result = importText(`
services:
  mariadb:
    image: mariadb:11
    environment:
      MARIADB_DATABASE: app
      MARIADB_ROOT_PASSWORD: secret
      MARIADB_PORT: 3306
    command: ["--skip-log-bin"]
    ports: ["3306"]
    healthcheck:
      test: ["CMD", "healthcheck.sh", "--connect"]
    volumes:
      - dbdata:/var/lib/mysql
      - ./db/init:/docker-entrypoint-initdb.d:ro
  cache:
    image: memcached:1.6
    environment: ["MEMCACHED_MEMORY=64", "EMPTY="]
    command: memcached -m 64
    ports: [11211]
    healthcheck:
      test: ["CMD-SHELL", "echo stats | nc -w1 127.0.0.1 11211"]
    depends_on: [mariadb]
  worker:
    image: app-worker
    volumes: ["/scratch"]
    healthcheck: { test: "test -f /ready" }
    depends_on:
      cache: { condition: service_healthy }
volumes:
  dbdata: {}
`);
    expect(result.errors).toEqual([]);
    expect(result.services).toEqual({
      mariadb: {
        image: 'mariadb:11',
        env: { MARIADB_DATABASE: 'app', MARIADB_ROOT_PASSWORD: 'secret', MARIADB_PORT: '3306' },
        command: ['--skip-log-bin'],
        ports: [3306],
        ready: { command: ['healthcheck.sh', '--connect'] },
        data: 'durable',
        volumes: ['/var/lib/mysql'],
        mounts: [{ source: 'db/init', path: '/docker-entrypoint-initdb.d', readOnly: true }],
      },
      cache: {
        image: 'memcached:1.6',
        env: { MEMCACHED_MEMORY: '64', EMPTY: '' },
        command: ['memcached', '-m', '64'],
        ports: [11211],
        ready: { command: ['sh', '-c', 'echo stats | nc -w1 127.0.0.1 11211'] },
        dependsOn: ['mariadb'],
      },
      worker: {
        image: 'app-worker',
        data: 'ephemeral',
        volumes: ['/scratch'],
        ready: { command: ['sh', '-c', 'test -f /ready'] },
        dependsOn: ['cache'],
      },
    });
  });

  it('turns what cannot be per agent and says each once', () => {
    const result = importText(`
version: "3.8"
services:
  mailpit:
    image: axllent/mailpit
    container_name: mailpit
    restart: always
    networks: [back]
    ports: ["8025:8025", "127.0.0.1:1025:1025/tcp", { target: 9000, published: 9000 }]
  other:
    image: busybox
    ports: ["8080:80"]
    networks: [back]
networks:
  back: {}
`);
    expect(result.errors).toEqual([]);
    expect(result.services.mailpit).toEqual({ image: 'axllent/mailpit', ports: [8025, 1025, 9000] });
    expect(result.services.other?.ports).toEqual([80]);
    expect(result.notes).toEqual([
      'version: not used',
      'networks: dropped (each agent has its own private network)',
      "services.mailpit.container_name: dropped (each agent's copy has berth's name)",
      "services.mailpit.restart: dropped (berth.yaml's restart applies to the whole stack)",
      'services.mailpit.networks: dropped (each agent has its own private network)',
      "services.mailpit.ports: fixed host ports leased instead (each agent's copy gets its own, on 127.0.0.1)",
      'services.other.networks: dropped (each agent has its own private network)',
      "services.other.ports: fixed host ports leased instead (each agent's copy gets its own, on 127.0.0.1)",
    ]);
  });

  it('lists keys it does not use, once, instead of ignoring them', () => {
    const result = importText(`
x-common: &common
  labels: { team: a }
services:
  a: { image: busybox, <<: *common, user: "1000", x-note: fine }
  b: { image: busybox, <<: *common }
secrets: {}
`);
    expect(result.errors).toEqual([]);
    expect(result.notes).toEqual([
      'secrets: not used',
      'services.a.labels: not used',
      'services.a.user: not used',
      'services.b.labels: not used',
    ]);
  });

  it('refuses what cannot be per agent, one line naming the service and the key', () => {
    const result = importText(`
services:
  a: { image: x, network_mode: host }
  b: { image: x, privileged: true }
  c: { image: x, cap_add: [NET_ADMIN] }
  d: { image: x, devices: ["/dev/kvm:/dev/kvm"] }
  e: { image: x, pid: host }
  f: { image: x, ipc: host }
  g: { build: . }
  h: { image: x, extends: { service: a } }
  i: { image: x, env_file: ../secrets.env }
  j: { image: x, volumes: ["../outside:/data"] }
  k: { image: x, volumes: ["/etc:/host-etc"] }
  l: { image: x, volumes: ["~/cache:/cache"] }
  m: { image: x, volumes: [{ type: bind, source: /var/run/docker.sock, target: /var/run/docker.sock }] }
  n: { image: x, network_mode: none }
`);
    expect(result.services).toEqual({});
    expect(result.errors).toEqual([
      'services.a.network_mode: host networking is not per agent',
      'services.b.privileged: a privileged container can take over the host',
      'services.c.cap_add: added capabilities reach past the container',
      "services.d.devices: the host's devices are not per agent",
      "services.e.pid: the host's pid namespace is not per agent",
      "services.f.ipc: the host's ipc namespace is not per agent",
      'services.g.build: berth runs images: build it and name the image',
      'services.h.extends: berth reads one service definition as it stands: write the service out in full',
      'services.i.env_file: ../secrets.env is outside the repository',
      "services.j.volumes: ../outside is outside the repository (only the repository's own paths are per agent)",
      "services.k.volumes: /etc is outside the repository (only the repository's own paths are per agent)",
      "services.l.volumes: ~/cache is outside the repository (only the repository's own paths are per agent)",
      "services.m.volumes: /var/run/docker.sock is outside the repository (only the repository's own paths are per agent)",
      `services.n.network_mode: "none" leaves it unreachable: neither the agent nor berth's readiness probe could reach it`,
    ]);
  });

  it("lists a declared volume's settings it does not use", () => {
    const result = importText(
      'services:\n  a: { image: x, volumes: [data:/d] }\nvolumes:\n  data: { name: shared, driver_opts: { device: /srv } }\n',
    );
    expect(result.errors).toEqual([]);
    expect(result.notes).toEqual(
      expect.arrayContaining([
        "volumes.data.name: not used (each agent's volume is berth's own, named and labelled by it)",
        "volumes.data.driver_opts: not used (each agent's volume is berth's own, named and labelled by it)",
      ]),
    );
  });

  it('turns what is per agent already: network_mode bridge, a private ipc namespace', () => {
    const result = importText('services:\n  a: { image: x, network_mode: bridge, ipc: private }\n');
    expect(result.errors).toEqual([]);
    expect(result.notes).toEqual([
      "services.a.network_mode: dropped (each agent's services are on its private network)",
      'services.a.ipc: not used (its ipc namespace is its own already)',
    ]);
  });

  it('refuses a service named in only that the file lacks, and a dependency left out', () => {
    const result = importText('services:\n  app: { image: x, depends_on: [db] }\n  db: { image: y }\n', {
      only: ['app', 'mailpit'],
    });
    expect(result.errors).toEqual([
      'only: docker-compose.yml has no service "mailpit"',
      'services.app.depends_on: db is not imported (add it to only)',
    ]);
  });

  it("refuses names berth keeps for itself and names that are not a service's", () => {
    const result = importText('services:\n  postgres: { image: x }\n  Mail_Pit: { image: y }\n');
    expect(result.errors).toEqual([
      'services.postgres: "postgres" is berth\'s own (use berth.yaml\'s postgres: key, or leave it out with only)',
      'services.Mail_Pit: a service name is lowercase letters, digits and -, 31 at most',
    ]);
    expect(
      importText('services:\n  postgres: { image: x }\n  mail: { image: y }\n', { only: ['mail'] }).errors,
    ).toEqual([]);
  });

  it('resolves bind mounts relative to the compose file, inside the repository', () => {
    const result = importCompose([
      {
        path: 'deploy/compose.yaml',
        text: 'services:\n  a: { image: x, volumes: ["../db:/init", "./conf:/conf"] }\n',
      },
    ]);
    expect(result.services.a?.mounts).toEqual([
      { source: 'db', path: '/init' },
      { source: 'deploy/conf', path: '/conf' },
    ]);
    expect(
      importCompose([
        { path: 'deploy/compose.yaml', text: 'services:\n  a: { image: x, volumes: ["../../db:/init"] }\n' },
      ]).errors,
    ).toHaveLength(1);
  });

  it('reads env_file inside the repository; environment wins', () => {
    const read = (path: string) =>
      path === 'config/app.env' ? '# comment\nA=1\nB="two words"\nexport C=3\n' : undefined;
    const result = importCompose(
      [
        {
          path: 'docker-compose.yml',
          text: 'services:\n  a: { image: x, env_file: config/app.env, environment: { A: "0" } }\n',
        },
      ],
      { readRepoFile: read },
    );
    expect(result.services.a?.env).toEqual({ A: '0', B: 'two words', C: '3' });
  });

  it(`takes compose's ${D}{VAR:-default} and $$, and refuses a variable only the host's environment has`, () => {
    const result = importText(
      `services:\n  a: { image: "x:${D}{TAG:-11}", environment: { P: "a$$b", Q: "${D}{SECRET}" } }\n`,
    );
    expect(result.errors).toEqual([
      `services.a.environment.Q: ${D}{SECRET} would come from the host's environment; set it in the .env beside the compose file, or give it a default (${D}{SECRET:-value})`,
    ]);
    expect(
      importText(`services:\n  a: { image: "x:${D}{TAG:-11}", environment: { P: "a$$b" } }\n`).services.a,
    ).toEqual({
      image: 'x:11',
      env: { P: 'a$b' },
    });
  });

  it('interpolates every value of a service, ports and volumes too, with the .env beside the compose file', () => {
    const dotEnv = 'DB_PASSWORD=fromdotenv\nEMPTY=\nDATA_DIR=./data\n';
    const read = (path: string) => (path === 'ops/.env' ? dotEnv : undefined);
    const text = [
      'services:',
      '  db:',
      `    image: "x:${D}{TAG:-11}"`,
      `    environment: { P: "${D}{DB_PASSWORD:-secret}", E: "${D}{EMPTY:-default}", F: "${D}{EMPTY-unused}", G: "${D}{NONE-unset}" }`,
      `    ports: ["${D}{DB_PORT:-3306}"]`,
      `    volumes: ["${D}{DATA_DIR:-./other}:/var/lib/mysql"]`,
      '',
    ].join('\n');
    const result = importCompose([{ path: 'ops/docker-compose.yml', text }], { readRepoFile: read });
    expect(result.errors).toEqual([]);
    expect(result.services.db).toMatchObject({
      image: 'x:11',
      env: { P: 'fromdotenv', E: 'default', F: '', G: 'unset' },
      ports: [3306],
    });
    expect(result.notes).toContain("ops/.env: its variables interpolate the compose file, as compose's do");
    // A host path in a volume or a port is refused where it is, not later.
    const host = importText(
      `services:\n  db: { image: x, volumes: ["${D}{HOME}/.ssh:/root/.ssh"], ports: ["${D}{PORT:?set PORT}"] }\n`,
    );
    expect(host.errors).toEqual([
      `services.db.volumes.0: ${D}{HOME} would come from the host's environment; set it in the .env beside the compose file, or give it a default (${D}{HOME:-value})`,
      `services.db.ports.0: ${D}{PORT} is required (set PORT), and neither the .env beside the compose file nor a default gives it`,
    ]);
  });

  it('says a service the file lacks even when its name is an object property, and skips an env_file not required', () => {
    expect(importText('services:\n  a: { image: x }\n', { only: ['constructor'] }).errors).toEqual([
      'only: docker-compose.yml has no service "constructor"',
    ]);
    const optional = importText(
      'services:\n  a: { image: x, env_file: [{ path: local.env, required: false }] }\n',
      {
        readRepoFile: () => undefined,
      },
    );
    expect(optional.errors).toEqual([]);
    expect(optional.notes).toContain('services.a.env_file: local.env is missing and not required; skipped');
  });

  it('says a variable without a value is left out (compose takes it from the host)', () => {
    const result = importText('services:\n  a: { image: x, environment: [TOKEN] }\n');
    expect(result.services.a).toEqual({ image: 'x' });
    expect(result.notes).toEqual([
      "services.a.environment.TOKEN: no value (compose takes it from the host's environment); left out",
    ]);
  });

  it('refuses an external volume (shared by every agent)', () => {
    expect(
      importText('services:\n  a: { image: x, volumes: ["d:/d"] }\nvolumes:\n  d: { external: true }\n')
        .errors,
    ).toEqual(['volumes.d.external: an external volume is shared, not per agent']);
  });

  it('merges later files over earlier ones as compose does', () => {
    const result = importCompose([
      {
        path: 'docker-compose.yml',
        text: 'services:\n  a: { image: x, environment: [A=1, B=1], ports: ["80"] }\n',
      },
      {
        path: 'docker-compose.override.yml',
        text: 'services:\n  a: { image: y, environment: { B: "2" }, ports: ["81"] }\n',
      },
    ]);
    expect(result.services.a).toEqual({ image: 'y', env: { A: '1', B: '2' }, ports: [80, 81] });
  });

  it('takes the agent service apart from the services, with its build inside the repository', () => {
    const result = importCompose(
      [
        {
          path: '.devcontainer/docker-compose.yml',
          text: `
services:
  app:
    build: { context: .., dockerfile: .devcontainer/Dockerfile, args: { NODE: "20" } }
    volumes: ["../..:/workspaces:cached"]
    network_mode: service:db
    command: sleep infinity
    environment: { DB_HOST: db }
    ports: ["3000:3000"]
  db: { image: mariadb:11 }
`,
        },
      ],
      { agentService: 'app' },
    );
    expect(result.errors).toEqual([]);
    expect(result.agent).toEqual({
      build: { context: '.', dockerfile: '.devcontainer/Dockerfile', args: { NODE: '20' } },
      command: ['sleep', 'infinity'],
      env: { DB_HOST: 'db' },
      ports: [3000],
    });
    expect(Object.keys(result.services)).toEqual(['db']);
    expect(result.notes).toContain(
      "services.app.volumes: dropped (berth mounts the agent's worktree itself)",
    );
    expect(result.notes).toContain(
      'services.app.network_mode: dropped (the agent reaches db by its name, not as localhost)',
    );
  });

  it('throws one UsageError with every line', () => {
    expect(() => composeServicesOrThrow(file('services:\n  a: { image: x, privileged: true }\n'))).toThrow(
      'docker-compose.yml: services.a.privileged: a privileged container can take over the host',
    );
    try {
      composeServicesOrThrow(file('services:\n  a: { image: x, privileged: true, pid: host }\n'));
    } catch (error) {
      expect((error as { details: string[] }).details).toHaveLength(2);
    }
  });

  it('splits a string command into words as compose does (quotes and backslashes, no expansion)', () => {
    expect(shellWords(`sh -c "echo 'a b' && sleep 1"  x\\ y '$HOME'`)).toEqual([
      'sh',
      '-c',
      "echo 'a b' && sleep 1",
      'x y',
      '$HOME',
    ]);
    expect(shellWords('""')).toEqual(['']);
    expect(importText('services:\n  a: { image: x, command: "sh -c \'oops" }\n').errors).toEqual([
      'services.a.command: an unclosed quote',
    ]);
  });

  it('limits aliases as berth.yaml does', () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x","x"]',
      ...Array.from(
        { length: 8 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
            .fill(`*${String.fromCharCode(97 + i)}`)
            .join(',')}]`,
      ),
      'services: {}',
    ].join('\n');
    expect(() => importText(bomb)).toThrow(/aliases/);
  });
});
