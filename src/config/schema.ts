import { z } from 'zod';
import { TOO_LONG, withinLongest } from '../plan/duration.js';
import { egressEntryProblem, egressListProblems, egressServiceRoom } from '../plan/egress.js';
import { DEFAULT_IMAGES } from '../plan/images.js';
import {
  configuredServices,
  RESERVED_SERVICE_NAMES,
  SERVICE_LIMITS,
  serviceProblems,
} from '../plan/services.js';

/** The agent container's command unless berth.yaml says otherwise: idle; agents exec into it. */
export const IDLE_AGENT_COMMAND = ['sleep', 'infinity'] as const;

const portNumber = z.number().int().min(1).max(65535);
const shellCommand = z.string().min(1);
const duration = z
  .union([
    z.number().int().positive(),
    z
      .string()
      .regex(/^\d+[smhd]$/, 'expected a duration such as "90s", "30m" or "2h"')
      .refine((text) => Number.parseInt(text, 10) > 0, 'expected a duration above zero, such as "90s"'),
  ])
  .refine(withinLongest, TOO_LONG);

const hookCommand = z.union([
  shellCommand,
  z.strictObject({
    run: shellCommand,
    on: z.enum(['agent', 'host']).default('agent'),
    /** This command's time limit, instead of hookTimeout. */
    timeout: duration.optional(),
  }),
]);
const hostHookCommand = z.union([
  shellCommand.transform((run) => ({ run, on: 'host' as const })),
  z.strictObject({ run: shellCommand, on: z.literal('host').default('host'), timeout: duration.optional() }),
]);

const portRange = z
  .string()
  .regex(/^\d+-\d+$/, 'expected "LOW-HIGH", for example "20000-29999"')
  .refine((range) => {
    const [low, high] = range.split('-').map(Number) as [number, number];
    return low >= 1024 && high <= 65535 && low <= high;
  }, 'expected 1024 <= LOW <= HIGH <= 65535');

const subnetPool = z
  .string()
  .regex(
    /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/,
    'expected an IPv4 CIDR such as "10.201.0.0/16"',
  );

/** An entry of network.egress.allow; plan/egress.ts parses it (and says what is wrong with a bad one). */
const egressEntry = z.string().superRefine((entry, context) => {
  const problem = egressEntryProblem(entry);
  if (problem) context.addIssue({ code: 'custom', message: problem });
});

const variableName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'not a valid variable name');

/** A secret by reference: where berth reads it on the host, and who gets it. */
const secret = z.strictObject({
  from: z
    .string()
    .regex(
      /^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+|command:.*\S.*)$/s,
      'expected env:NAME, file:PATH or "command:<a shell line>"',
    )
    .describe(
      'env:NAME (a variable of berth`s environment), file:PATH (~ and relative paths allowed) or "command:<shell line>" (its output)',
    ),
  to: z
    .array(z.enum(['agent', 'hooks']))
    .min(1)
    .default(['agent', 'hooks'])
    .describe(
      'agent: a file in the agent container for its whole life; hooks: present while the setup, migrate and seed hooks run',
    ),
  env: z
    .boolean()
    .default(false)
    .describe(
      'also a variable of that name in the commands berth runs in the container (exec, run, shell, hooks)',
    ),
});

const name = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'lowercase letters, digits, _');

/** A path inside the repository, relative, without `..`: what a service may bind from the agent's worktree. */
const repositoryPath = z
  .string()
  .min(1)
  .refine(
    (path) => !path.startsWith('/') && !path.split('/').includes('..') && path.split('/')[0] !== '.git',
    'a path inside the repository, relative, without "..", not in its git folder',
  );
const containerPath = z.string().regex(/^\/[^\0]*$/, 'an absolute path in the container');

/** A memory size as Docker takes it. */
const memorySize = z
  .string()
  .regex(/^\d+(\.\d+)?[kmg]$/i, 'expected a size such as "512m" or "2g"')
  .refine((size) => memoryBytes(size) >= MIN_MEMORY_BYTES, 'at least 6m: the engine refuses a smaller limit');

/** The engine's smallest memory limit (6 MiB). */
const MIN_MEMORY_BYTES = 6 * 1024 * 1024;

/** A size as Docker reads it: k, m and g are powers of 1024. */
function memoryBytes(size: string): number {
  const unit = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[size.slice(-1).toLowerCase() as 'k' | 'm' | 'g'];
  return Number.parseFloat(size) * unit;
}

/** A service's limits (Postgres, Redis and each of services:): what an agent can make it hold is bounded. */
const serviceLimits = z
  .strictObject({
    memory: memorySize
      .default(SERVICE_LIMITS.memory)
      .describe('its memory limit; its data in memory (data: ephemeral, a tmpfs) is bounded by it too'),
    pids: z
      .number()
      .int()
      .min(16)
      .max(1_000_000)
      .default(SERVICE_LIMITS.pids)
      .describe('its limit of processes'),
  })
  .prefault({})
  .describe("the service's limits: the agent holds its credentials, so it could otherwise fill the host");

/** One service of `services:` (plan/services.ts plans it; Postgres and Redis are presets of the same). */
const service = z.strictObject({
  image: z
    .string()
    .min(1)
    .describe(
      'the image (a known stand-in is built from Debian`s packages where it is missing: mariadb, memcached)',
    ),
  command: z
    .union([z.string().min(1), z.array(z.string()).min(1)])
    .optional()
    .describe('what it runs, as compose`s command: an array, or a string split on spaces'),
  env: z
    .record(variableName, z.string())
    .default({})
    .describe(`its variables; values may use \${random}, \${env.NAME}, \${host} and \${port}`),
  ports: z
    .array(portNumber)
    .default([])
    .describe('container ports, each leased on the host (127.0.0.1); the first is NAME_PORT'),
  ready: z
    .union([
      z.strictObject({ tcp: portNumber }),
      z.strictObject({ command: z.array(z.string()).min(1) }),
      z.strictObject({
        http: z.string().regex(/^\//, 'a path such as "/health"'),
        port: portNumber.optional(),
      }),
    ])
    .optional()
    .describe(
      'when it is ready: { tcp: PORT }, { command: [...] } run in its container, or { http: "/path", port }; default: tcp on the first port, or started when it has none',
    ),
  data: z
    .enum(['ephemeral', 'durable'])
    .default('ephemeral')
    .describe('ephemeral: its volumes are in memory (tmpfs); durable: a named volume per agent for each'),
  volumes: z.array(containerPath).default([]).describe('container paths that hold its data'),
  mounts: z
    .array(
      z.strictObject({
        source: repositoryPath.describe('a path in the repository, taken from the agent`s worktree'),
        path: containerPath.describe('where it appears in the container'),
        readOnly: z.boolean().default(false),
      }),
    )
    .default([])
    .describe('bind mounts of paths inside the agent`s worktree'),
  dependsOn: z.array(z.string()).default([]).describe('services started before this one'),
  resources: serviceLimits,
  url: z
    .string()
    .min(1)
    .optional()
    .describe(`becomes NAME_URL; may use \${random}, \${env.NAME}, \${host} and \${port}`),
});
export type ServiceConfig = z.output<typeof service>;

const serviceName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,30}$/, 'a service name: lowercase letters, digits and -, at most 31')
  .refine(
    (n) => !RESERVED_SERVICE_NAMES.includes(n),
    'reserved: agent, postgres, redis and egress are berth`s own',
  );

/** An import of a compose file's services: config/load.ts expands it into the map before this schema sees it. */
const serviceImport = z.strictObject({
  from: z.string().min(1).describe('a compose file in the repository'),
  only: z.array(z.string()).optional().describe('the services to take (default: all)'),
});
const section = <T extends z.ZodType>(schema: T, description: string) =>
  schema.prefault({} as never).describe(description);

/**
 * berth.yaml at the repository root. Every field is optional and has a default; unknown keys are
 * errors. The descriptions are the documentation: the JSON schema for editors carries them, and a test
 * checks that the README names every field.
 */
export const configSchema = z
  .strictObject({
    agent: section(
      z.strictObject({
        image: z
          .string()
          .min(1)
          .default(DEFAULT_IMAGES.agent)
          .describe("the agent container's image (berth's offline stand-in where only that exists)"),
        build: z
          .strictObject({
            context: z.string().min(1).describe('the build context, a folder of the repository'),
            dockerfile: z.string().min(1).describe('the Dockerfile, a path in the repository'),
            args: z.record(z.string(), z.string()).default({}).describe('build arguments'),
          })
          .optional()
          .describe(
            "build the agent's image from the trusted working tree instead of running agent.image (tagged by a hash of the Dockerfile, the context's files and the arguments)",
          ),
        command: z
          .array(z.string())
          .min(1)
          .default([...IDLE_AGENT_COMMAND])
          .describe('what the agent container runs; idle by default, agents exec into it'),
        env: z
          .record(variableName, z.string())
          .default({})
          .describe('extra variables in the agent container'),
        packageCache: z
          .boolean()
          .default(true)
          .describe(
            "share the host's npm, pnpm, yarn and pip caches among this user's agents (node_modules stays per worktree)",
          ),
        resources: section(
          z.strictObject({
            cpus: z.number().positive().max(1024).default(2).describe('CPUs the agent container may use'),
            memory: memorySize.default('2g').describe('its memory limit, such as "512m" or "2g"'),
            pids: z.number().int().min(16).max(1_000_000).default(1024).describe('its limit of processes'),
          }),
          "the agent container's limits",
        ),
      }),
      'the container the agent works in',
    ),
    postgres: section(
      z.strictObject({
        enabled: z
          .boolean()
          .default(true)
          .describe('give agents a Postgres at all (without it: no DATABASE_URL, and no migrate or seed)'),
        image: z.string().min(1).default(DEFAULT_IMAGES.postgres).describe('the Postgres image'),
        resources: serviceLimits,
        database: name.default('app').describe("the agent's database"),
        user: name.default('app').describe("the agent's database user (its password is random, per agent)"),
        preinit: z
          .boolean()
          .default(true)
          .describe(
            'run the image berth host init derived, with the cluster made at build time: no initdb at start',
          ),
        storage: z
          .enum(['durable', 'ephemeral'])
          .default('ephemeral')
          .describe(
            'ephemeral: no fsync, the data goes with the container, fastest (agent databases are scratch); durable: a named volume, crash-safe',
          ),
        template: section(
          z.strictObject({
            enabled: z
              .boolean()
              .default(true)
              .describe(
                'the first agent on a base runs migrate and seed into a template; later ones start from a copy of it',
              ),
            key: z
              .enum(['base', 'files'])
              .default('base')
              .describe(
                "what makes a template: base, the agent's start commit; files, the contents of template.files at it",
              ),
            files: z
              .array(z.string().min(1))
              .default([])
              .describe('with key: files, the paths (files or folders) migrate and seed depend on'),
            budget: z
              .string()
              .regex(/^\d+(\.\d+)?\s*(B|KB|MB|GB|TB)$/i, 'expected a size such as "20GB"')
              .default('20GB')
              .describe('berth gc removes unused templates, oldest first, until they fit in this'),
          }),
          'database templates: migrate and seed once per base',
        ),
      }),
      "each agent's own Postgres",
    ),
    redis: section(
      z.strictObject({
        image: z.string().min(1).default(DEFAULT_IMAGES.redis).describe('the Redis image'),
        enabled: z.boolean().default(true).describe('give agents a Redis at all'),
        resources: serviceLimits,
      }),
      "each agent's own Redis",
    ),
    ports: section(
      z.strictObject({
        range: portRange.default('20000-29999').describe('host ports are leased from here, host-wide'),
        app: z
          .record(z.string().regex(/^[a-z][a-z0-9_]*$/, 'lowercase name'), portNumber)
          .default({})
          .describe(
            'container ports of the app, by name, published on 127.0.0.1 at leased ports; the first is PORT',
          ),
      }),
      'host ports',
    ),
    network: section(
      z.strictObject({
        subnetPool: subnetPool
          .default('10.201.0.0/16')
          .describe(
            "each agent's private network gets a small subnet from here (the engine's own pools run out at ~31)",
          ),
        subnetPrefix: z
          .number()
          .int()
          .min(16)
          .max(29)
          .default(28)
          .describe('the size of each subnet (/28: 16 addresses)'),
        outbound: z
          .boolean()
          .default(true)
          .describe(
            'false: the agent reaches only its own Postgres and Redis, nothing outside (no app ports then)',
          ),
        egress: z
          .strictObject({
            allow: z
              .array(egressEntry)
              .default([])
              .describe(
                'names ("api.example.org"), wildcards ("*.example.com": the names under it) and host:port ("git.example.net:22", forwarded as plain TCP); a name alone means ports 80 and 443',
              ),
          })
          .optional()
          .describe(
            'set: the agent, Postgres, Redis and the services of services: have no route out; a proxy lets the agent reach the listed names only, and logs every decision',
          ),
      }),
      "each agent's private network",
    ),
    worktree: section(
      z.strictObject({
        folder: z
          .string()
          .min(1)
          .optional()
          .describe(
            'where worktrees go, relative to the repository`s parent folder (default: "<repo>.worktrees")',
          ),
        branchPrefix: z.string().default('berth/').describe("a new agent's branch is <branchPrefix><name>"),
        baseRef: z
          .string()
          .min(1)
          .default('HEAD')
          .describe('what new branches start from (HEAD: the HEAD of the worktree berth runs in)'),
        submodules: z
          .boolean()
          .default(true)
          .describe(
            "check out the repository's submodules in each worktree, by git in the agent's container (a failure is a warning)",
          ),
      }),
      "each agent's git worktree",
    ),
    devcontainer: z
      .union([z.literal(false), z.string().min(1)])
      .optional()
      .describe(
        'the devcontainer.json the agent container comes from (a path in the repository), or false for none; default: .devcontainer/devcontainer.json or .devcontainer.json when there is one. berth.yaml`s own fields win over it',
      ),
    envFile: z
      .string()
      .regex(/^[^/\\]+$/, 'a file name in the worktree, without folders')
      .default('.env.local')
      .describe("the env file written in the worktree (the container's view; mode 0600, excluded from git)"),
    hooks: section(
      z.strictObject({
        setup: z
          .array(hookCommand)
          .default([])
          .describe('after Postgres and Redis answer, and again on berth sync'),
        migrate: z.array(hookCommand).default([]).describe("after setup, against the agent's own database"),
        seed: z.array(hookCommand).default([]).describe('after migrate'),
        teardown: z
          .array(hookCommand)
          .default([])
          .describe('before removal; a failure keeps the environment, unless --force'),
        'post-teardown': z.array(hostHookCommand).default([]).describe('on the host, after removal'),
      }),
      'commands per stage: a shell line (in the agent container), or { run, on: agent|host, timeout }',
    ),
    pool: section(
      z.strictObject({
        size: z
          .number()
          .int()
          .min(0)
          .max(50)
          .default(0)
          .describe(
            'environments kept ready per repository and base (Postgres and Redis running, ports leased); 0: none',
          ),
      }),
      'the warm pool: a provision takes a ready environment and only adds the worktree and agent container',
    ),
    claude: section(
      z.strictObject({
        ttl: duration
          .default('2m')
          .describe(
            "the time to live of an agent Claude Code's WorktreeCreate hook made, renewed while Claude Code's process runs: the agent outlives a session that ended without its hooks (a crash, not logged in, killed) by at most this",
          ),
        subagents: z
          .enum(['light', 'full'])
          .default('light')
          .describe(
            'what worktrees Claude Code makes for its subagents and background sessions get: light, the worktree and the agent container only; full, Postgres and Redis too',
          ),
      }),
      "agents made by Claude Code's hooks (berth agent-hooks install claude)",
    ),
    services: z
      .union([z.record(serviceName, service), serviceImport])
      .default({})
      .describe(
        "each agent's own copy of more services (MariaDB, memcached, any image), on its private network; or { from, only } to take them from a compose file",
      ),
    secrets: z
      .record(variableName, secret)
      .default({})
      .describe(
        'secrets by reference, resolved on the host at provision and sync, given as files in /run/secrets/NAME (never in the compose file, env files, state or logs)',
      ),
    hookTimeout: duration
      .default('10m')
      .describe('how long one hook command may run before it is stopped (and the provision rolled back)'),
    healthTimeout: z
      .number()
      .positive()
      .max(3600)
      .default(60)
      .describe('seconds to wait for Postgres and Redis to answer after the stack starts'),
    ttl: duration
      .default('30m')
      .describe(
        "an agent's time to live: how long it lives without a heartbeat or a running command before gc reaps it",
      ),
    apply: z
      .enum(['api', 'compose'])
      .default('api')
      .describe('create the stack through the Engine API (faster, the same result) or with compose up'),
    restart: z
      .enum(['no', 'unless-stopped', 'always', 'on-failure'])
      .default('unless-stopped')
      .describe('whether stacks come back after the engine restarts'),
  })
  .describe('berth.yaml: every field is optional');

export type BerthConfig = z.output<typeof configSchema>;

/** Rules across fields, checked after the schema. */
export function crossFieldProblems(config: BerthConfig): string[] {
  const problems: string[] = [];
  const { template } = config.postgres;
  if (template.enabled && template.key === 'files' && template.files.length === 0)
    problems.push('postgres.template.files: list the paths migrate and seed depend on, for key: files');
  if (!config.postgres.enabled && config.pool.size > 0)
    problems.push('pool.size: a warm pool keeps Postgres running; it needs postgres.enabled');
  if (config.network.egress && !config.network.outbound)
    problems.push(
      'network.egress: an allowlist needs outbound true (outbound false lets nothing out at all)',
    );
  if (config.network.egress && config.pool.size > 0)
    problems.push('pool.size: the warm pool does not make environments behind an egress proxy; set it to 0');
  if (config.network.egress) problems.push(...egressListProblems(config.network.egress.allow));
  const services = Object.keys(configuredServices(config));
  const room = egressServiceRoom(config.network.subnetPrefix);
  if (config.network.egress && services.length > room)
    problems.push(
      `services: behind an egress proxy each service has a fixed address on the agent's /${config.network.subnetPrefix} network, which has room for ${room}; lower network.subnetPrefix`,
    );
  problems.push(...serviceProblems(config));
  // Each leased port has one name: an app port may not take Postgres's or Redis's.
  for (const name of ['postgres', 'redis'] as const)
    if (config[name].enabled && Object.hasOwn(config.ports.app, name))
      problems.push(
        `ports.app.${name}: the name is ${name === 'postgres' ? 'Postgres' : 'Redis'}'s port's; rename it`,
      );
  // BERTH_ names are berth's own: the container and the host must read the same ones.
  for (const variable of Object.keys(config.agent.env))
    if (variable.startsWith('BERTH_'))
      problems.push(
        `agent.env.${variable}: BERTH_ names are berth's own (it sets them for the agent); rename it`,
      );
  if (!config.network.outbound && Object.keys(config.ports.app).length > 0) {
    problems.push(
      'ports.app: cannot publish app ports with network.outbound false (the agent is on an internal network)',
    );
  }
  return problems;
}
export type HookCommand = z.output<typeof hookCommand>;

export function jsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input' });
}
