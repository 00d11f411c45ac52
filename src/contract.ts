import { z } from 'zod';
import { BRANCH_OUTCOMES } from './plan/branch.js';
import { EXIT_POLICIES } from './plan/exit.js';
import { ATTEMPT_ENDS } from './plan/fleet.js';

/**
 * berth's output contract: what every command prints with --json, for scripts, the fleet, the MCP
 * server and the UI. The schemas here are the one source: the types are inferred from them, the
 * committed JSON schema (templates/berth.results.schema.json) is generated from them, and the tests
 * check real output against them. A change that breaks a consumer raises CONTRACT_VERSION.
 */
export const CONTRACT_VERSION = 1;

const text = (description: string) => z.string().describe(description);

export const errorSchema = z
  .object({
    code: text('a stable identifier of the kind of error, such as "unknown-agent"'),
    message: text('what went wrong, in one line'),
    hint: text('what to do about it').optional(),
    logFile: text('a log with the full story').optional(),
    details: z.array(z.string()).optional().describe('further lines, one per problem'),
  })
  .describe('An error: one line of what went wrong, one of what to do');
export type ErrorView = z.output<typeof errorSchema>;

export const TASK_STATES = ['running', 'finished', 'terminated', 'abandoned'] as const;
export const TASK_RESULTS = ['kept', 'torn-down', 'kept-unmerged', 'teardown-failed'] as const;

export const taskSchema = z
  .object({
    name: text('the agent the task ran in'),
    branch: text("the agent's branch"),
    state: z
      .enum(TASK_STATES)
      .describe(
        'running: its command runs; finished: it exited; terminated: stopped by a signal to berth; abandoned: its berth process died while it ran',
      ),
    exitCode: z
      .number()
      .int()
      .nullable()
      .describe("the command's exit code; null when no command ran (complete)"),
    command: z.array(z.string()).optional().describe('the command, as an argument list'),
    startedAt: text('when the command started (ISO 8601)'),
    endedAt: text('when it ended'),
    durationMs: z.number().int().describe('how long the command ran'),
    completedAt: text('when `berth complete` marked the task complete').optional(),
    commits: z
      .number()
      .int()
      .describe("commits on the branch that its base (as it is now) does not have: the agent's work"),
    diffStat: text("`git diff --shortstat` of the agent's work"),
    onExit: z.enum(EXIT_POLICIES).describe('the exit policy applied'),
    result: z.enum(TASK_RESULTS).describe('what the exit policy did'),
    branchOutcome: z
      .enum(BRANCH_OUTCOMES)
      .optional()
      .describe('what became of the branch, when it tore the agent down'),
    savedPatch: text('uncommitted work saved before the teardown').optional(),
    message: text('why the policy kept the agent, or why the teardown failed').optional(),
    logFile: text("the command's output: this run's log").optional(),
  })
  .describe('A task: one agent command from start to end, and what its exit policy did');
export type TaskView = z.output<typeof taskSchema>;

export const AGENT_STATES = [
  'provisioning',
  'running',
  'stopped',
  'partial',
  'missing',
  'removing',
  'failed',
] as const;

export const agentSchema = z
  .object({
    name: text('the agent'),
    branch: text('its branch'),
    baseRef: text('what the branch started from and is merged into'),
    state: z
      .enum(AGENT_STATES)
      .describe(
        'provisioning or removing: a berth process is at it; running, stopped, partial, missing: its containers as the engine sees them; failed: a provision that could not be undone, left for gc',
      ),
    health: text('"ok", or what is wrong: a service not running, the worktree missing'),
    step: text('while it is being provisioned: the step it is at').optional(),
    services: z
      .record(z.string(), z.string())
      .describe("each service's container state: agent, postgres, redis"),
    worktree: text('its git worktree'),
    envFile: text(
      "the env file in the worktree: the container's view (services by name), what the agent's code reads",
    ),
    hostEnvFile: text("the host's view (127.0.0.1 and leased ports), for tools on the host"),
    ports: z
      .record(z.string(), z.number().int())
      .describe('leased host ports by name: postgres, redis, app ports'),
    urls: z
      .object({ database: z.string().optional(), redis: z.string().optional() })
      .catchall(z.string())
      .describe(
        "the host's URLs (of the services it has; a service of services: with a url by its name); passwords and random values shown as *** unless --show-secrets",
      ),
    composeProject: text('the Compose project: docker compose -p <project> -f <file> ps|logs|down'),
    composeFile: text('the compose file'),
    createdAt: text('when it was provisioned'),
    expiry: z
      .object({ ttlSeconds: z.number(), expiresAt: z.string() })
      .describe(
        'when it expires: its time to live from the last heartbeat or running command; gc reaps it once past',
      ),
    inUse: z
      .array(
        z.strictObject({
          kind: z.enum(['exec', 'run', 'db', 'sync']),
          pid: z.number().int(),
          since: z.string(),
        }),
      )
      .describe('berth commands running in it now'),
    claude: z
      .strictObject({
        sessionId: text('the Claude Code session whose WorktreeCreate hook made the agent'),
        worktreeName: text('the worktree name Claude Code gave'),
        kind: z
          .enum(['session', 'subagent', 'background'])
          .describe(
            'session: claude --worktree; subagent or background: a worktree Claude made for one of its subagents or background sessions (a light environment unless claude.environment is full)',
          ),
        running: z
          .boolean()
          .describe("Claude Code's process still runs (while it does, the agent is in use)"),
        endedAt: text('when the session ended through its SessionEnd hook').optional(),
      })
      .optional()
      .describe('the Claude Code session the agent belongs to, for agents its hooks made'),
  })
  .describe('An agent: its worktree, container, Postgres and Redis, as berth, Docker and git see them now');
export type AgentView = z.output<typeof agentSchema>;

/** One name's entry in a list: its environment (if it exists), its last task, or what failed for it. */
export const entrySchema = z
  .object({
    name: text('the agent'),
    outcome: z.enum(['success', 'error']).describe('whether what the command did for this name worked'),
    agent: agentSchema.nullable().describe('its environment, when it exists'),
    task: taskSchema.nullable().describe('its last task, kept after the environment is gone'),
    error: errorSchema.nullable().describe('what failed for this name'),
    durationMs: z.number().int().optional().describe('how long the command took for this name (up)'),
  })
  .describe('One name in a list: the same shape wherever agents are listed');
export type EntryView = z.output<typeof entrySchema>;

const imageSchema = z.strictObject({
  role: z.enum(['postgres', 'redis', 'agent', 'postgres-fast', 'egress']),
  image: text('the image to run'),
  official: text('the image it stands in for, or (postgres-fast) derives from'),
  offline: z.boolean().describe('an offline stand-in built from Debian packages'),
  outcome: z.enum(['found', 'pulled', 'built']),
});

const removedSchema = z.strictObject({
  containers: z.number().int(),
  networks: z.number().int(),
  volumes: z.number().int(),
});

const gcActionSchema = z.strictObject({
  kind: z.enum(['agent', 'containers', 'worktree', 'folder', 'branch', 'lease', 'image', 'pool']),
  target: text('what was (or would be) removed'),
  reason: text('why'),
  savedPatch: text('uncommitted work saved before the removal').optional(),
  keptBranch: text("an agent's branch kept: it has unmerged commits").optional(),
});

const logSchema = z.strictObject({
  source: text(
    'a hook (setup, migrate, seed, teardown, post-teardown), "task", or "egress" (the proxy`s decisions, JSON lines)',
  ),
  file: text('the whole log'),
  text: text('its last part'),
  truncated: z.boolean().describe('true when text is only the last part of the file'),
  startedAt: text("a task run's start").optional(),
  state: text("a task run's state").optional(),
});

const fleetCountsSchema = z.strictObject({
  waiting: z.number().int(),
  active: z.number().int(),
  delayed: z.number().int().describe('failed once, waiting for its retry'),
  completed: z.number().int(),
  failed: z.number().int(),
  stalled: z
    .number()
    .int()
    .describe('active, but the host running it went silent or lost its lock: it will run again'),
});

export const fleetOutcomeSchema = z.strictObject({
  host: z.string(),
  exitCode: z.number().int().nullable(),
  commits: z.number().int().describe("the task's own commits on top of its base"),
  branch: z.string().describe('the result branch on the remote: berth/<task>'),
  commit: z.string().describe('what the remote branch points at after the publish'),
  base: z.string().describe('the commit the task started from'),
  durationMs: z.number().int(),
  result: z.string().describe('what the exit policy did: torn-down, kept, …'),
  savedPatch: text('uncommitted work the host saved, on that host').optional(),
  attempt: text('the attempt that produced this outcome: <task>#<n>').optional(),
  config: text(
    "where the berth.yaml it ran with came from: the worker's --config, or the default branch",
  ).optional(),
});

export type FleetOutcome = z.output<typeof fleetOutcomeSchema>;

const fleetAttemptSchema = z.strictObject({
  id: text('<task>#<n>: n counts every time a host took the task'),
  host: z.string(),
  env: text("its agent's name on that host"),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  end: z
    .enum([...ATTEMPT_ENDS, 'unknown'])
    .nullable()
    .describe(
      'completed, failed, lost (its host lost the lock), given-back (drained), host-failure (sent back: the host could not make its environment), cancelled; unknown: its host stopped before it could say; null while it runs',
    ),
  step: z.string(),
  reason: z.string().nullable(),
  published: z.string().nullable().describe('the commit it pushed as the result branch, if it got that far'),
});

const fleetTaskViewSchema = z.strictObject({
  name: z.string().describe("the task's id"),
  repo: z.string(),
  state: z.enum(['waiting', 'active', 'delayed', 'completed', 'failed']),
  stalled: z.boolean(),
  host: z.string().nullable().describe('the host running it, or that ran it'),
  attempts: z.number().int().describe('how many attempts hosts made at it'),
  stalls: z.number().int().describe('how many times its host died under it'),
  step: z
    .string()
    .nullable()
    .describe(
      'of its last attempt: fetch, provision, run, publish, teardown, done, stopping, given-back, lost',
    ),
  attempt: z.string().nullable().describe('its last attempt (the running one, or the one that ended it)'),
  cancelled: z.boolean().describe('failed because someone cancelled it'),
  branch: z.string(),
  outcome: fleetOutcomeSchema.nullable(),
  failedReason: z.string().nullable(),
  durationMs: z.number().int().nullable(),
  log: z.array(z.string()).optional().describe("a failed task's last lines of output, kept by the queue"),
  history: z.array(fleetAttemptSchema).describe('every attempt at it, in order'),
});

const fleetHostSchema = z.strictObject({
  name: z.string(),
  slots: z.number().int(),
  running: z.array(z.string()),
  draining: z.boolean(),
  seenAt: z.string(),
  silent: z.boolean().describe('not heard from lately: paused, killed, or its machine gone'),
  state: z
    .enum(['working', 'draining', 'silent', 'gone'])
    .describe(
      'silent: missed three writes; gone: silent past its lock and a stalled check (its tasks went back); dropped from the list later',
    ),
});

export const fleetStatusSchema = z.strictObject({
  counts: fleetCountsSchema,
  hosts: z.array(fleetHostSchema),
  tasks: z.array(fleetTaskViewSchema),
});

const egressAppliedSchema = z.strictObject({
  allow: z.array(z.string()).describe('the entries of network.egress.allow the proxy applies now'),
  tcp: z.array(z.string()).describe('the host:port entries also forwarded as plain TCP'),
});

/** The result of each command, by command. */
const dbResultSchema = z.strictObject({
  agent: z.string(),
  action: z.enum(['reset', 'snapshot', 'restore']),
  image: z.string().describe('the image the database runs from now (reset, restore) or was saved as'),
  label: z.string().optional(),
  connectionsDropped: z.literal(true).describe("its Postgres restarted: the app's connections were dropped"),
  reseeded: z.boolean().describe('reset without a template: made anew, then migrate and seed ran'),
  durationMs: z.number(),
});

export const resultSchemas = {
  'host init': z.strictObject({
    engine: z.strictObject({
      outcome: z.enum(['found', 'started', 'installed']),
      endpoint: z.string(),
      version: z.string(),
      apiVersion: z.string(),
    }),
    compose: z.strictObject({
      outcome: z.enum(['found', 'installed']),
      variant: z.enum(['v2', 'v1']),
      version: z.string(),
      command: z.array(z.string()),
    }),
    images: z.array(imageSchema),
    unchanged: z.boolean().describe('this run changed nothing on the host'),
  }),
  'host uninstall': z.strictObject({
    dryRun: z.boolean(),
    agents: z
      .array(
        z.strictObject({
          kind: z.enum(['agent', 'pool', 'queue']),
          name: z.string(),
          repo: z.string().describe('its repository (the fleet queue: where it runs)'),
          outcome: z.enum(['torn-down', 'failed', 'would-tear-down']),
          detail: z.string().optional().describe('uncommitted work saved, or why it failed'),
        }),
      )
      .describe('with --force: what was torn down first, as teardown --force does'),
    containers: z.number().int(),
    networks: z.number().int(),
    volumes: z.number().int(),
    images: z
      .array(z.string())
      .describe("berth's images removed: stand-ins, derived images, templates, snapshots"),
    keptImages: z
      .array(z.strictObject({ image: z.string(), reason: z.string() }))
      .describe('images that stayed, and why'),
    folders: z.array(z.string()).describe("berth's host folder (state, leases, logs, caches)"),
    savedWork: text('fleet work saved as patches, moved out of the host folder before it went').optional(),
    composePlugin: text('the Compose plugin berth installed').optional(),
    packages: z.array(z.string()).describe('with --engine: the OS packages berth installed'),
    firewall: z.boolean().describe("berth's firewall chains removed"),
    engineStopped: z.boolean().describe('the engine was stopped before its package went'),
    engine: z
      .enum(['answered', 'started', 'absent', 'stopped'])
      .describe('answered, started to remove its objects, absent (no engine), stopped (a dry run)'),
  }),
  provision: z.strictObject({ agent: agentSchema }),
  ls: z.strictObject({
    agents: z.array(entrySchema),
    pool: z
      .array(
        z.strictObject({
          id: z.string(),
          status: z
            .enum(['making', 'ready', 'removing'])
            .describe('making: a fill makes it; ready: a provision may take it; removing: it goes'),
          key: z.string().describe('the base and stack it was made for'),
          ports: z.record(z.string(), z.number().int()),
          createdAt: z.string(),
        }),
      )
      .optional()
      .describe('with --pool: the warm pool`s members'),
  }),
  show: entrySchema,
  exec: z.strictObject({
    name: z.string(),
    exitCode: z
      .number()
      .int()
      .describe(
        "the command's own exit code (128 + n when a signal n ended it); berth exits with it too, and its own failures are error objects instead",
      ),
    exitCodeOf: z
      .literal('command')
      .describe(
        'whose exit code exitCode is: the command`s in the container, never berth`s own (2, 3, 1 come with outcome "error")',
      ),
    stdout: text("the command's standard output, its last part when long"),
    stderr: text("the command's standard error, its last part when long"),
    output: text(
      'stdout and stderr together, as berth read them: the order of lines from the two streams is not kept (they come through two pipes), each stream`s own order is',
    ),
    truncated: z.boolean().describe('true when stdout, stderr or output is only the last part'),
    logFile: text("the command's whole output (both streams, as output)"),
  }),
  shell: z.strictObject({ name: z.string(), exitCode: z.number().int() }),
  env: z.strictObject({
    name: z.string(),
    view: z.enum(['host', 'container']),
    env: z.record(z.string(), z.string()).describe('the variables; passwords as *** unless --show-secrets'),
  }),
  teardown: z.strictObject({
    name: z.string(),
    removed: z.boolean().describe('false when there was nothing to tear down (a second run)'),
    branch: z.string().optional(),
    branchOutcome: z.enum(BRANCH_OUTCOMES),
    worktree: z.string().optional(),
    resources: removedSchema,
    savedPatch: text('uncommitted work, saved before the worktree went').optional(),
  }),
  up: z.strictObject({
    agents: z.array(entrySchema),
    ready: z.number().int(),
    failed: z.number().int(),
  }),
  'up --tasks': z.strictObject({
    tasks: z.array(entrySchema),
    succeeded: z.number().int(),
    failed: z.number().int(),
  }),
  run: entrySchema,
  complete: entrySchema,
  sync: z.strictObject({
    name: z.string(),
    branch: z.string(),
    onto: text(
      'what the branch was rebased onto: its base as this repository has it (a local branch with its local commits)',
    ),
    fetched: z.boolean().describe('the repository had remotes, fetched first'),
    rebased: z
      .strictObject({ from: z.string(), to: z.string() })
      .describe("the branch's tip before and after"),
    commits: z.number().int().describe("the agent's own commits after the rebase"),
    setup: z
      .strictObject({ ran: z.boolean(), commands: z.number().int() })
      .describe('the setup hooks, run again'),
    secrets: z
      .array(z.string())
      .optional()
      .describe('the secrets resolved again and given (names; never a value)'),
    egress: egressAppliedSchema.optional().describe('behind an egress proxy: the list applied again'),
    upstream: z
      .strictObject({
        ref: text('the upstream of the base, such as origin/main'),
        behind: z.number().int().describe('commits it has that the base does not'),
      })
      .optional()
      .describe('when the base lacks commits of its upstream (fetched, not pulled): not taken, said'),
  }),
  'egress reload': z.strictObject({ name: z.string(), ...egressAppliedSchema.shape }),
  logs: z.strictObject({ name: z.string(), logs: z.array(logSchema) }),
  heartbeat: z.strictObject({ name: z.string(), expiresAt: z.string() }),
  gc: z.strictObject({ dryRun: z.boolean(), actions: z.array(gcActionSchema) }),
  'db reset': dbResultSchema,
  'db snapshot': dbResultSchema,
  'db restore': dbResultSchema,
  'agent-hooks install': z.strictObject({
    agent: z.string(),
    settingsFile: z.string(),
    changed: z.boolean().describe('false when berth`s hooks were in already'),
    events: z.array(z.string()).describe('the hook events berth answers'),
    diff: z.string().describe('the change, as a line diff of the settings file'),
    dryRun: z.boolean(),
  }),
  'pool fill': z.strictObject({
    made: z.array(z.string()).describe('members made by this fill'),
    removed: z.array(z.string()).describe('members of an older base, removed'),
    failed: z.array(z.string()).describe('why a member could not be made (the fill stops there)'),
    ready: z.number().int().describe('members of the current base ready now'),
  }),
  'pool drain': z.strictObject({ removed: z.array(z.string()) }),
  'db snapshots': z.strictObject({
    name: z.string(),
    snapshots: z.array(z.strictObject({ label: z.string(), image: z.string(), createdAt: z.string() })),
  }),
  'config schema': z.strictObject({ schema: z.unknown().describe('the JSON schema of berth.yaml') }),
  'fleet queue': z.strictObject({
    outcome: z.enum(['started', 'running', 'stopped', 'not-running', 'removed']),
    url: z.string().describe('the URL to give workers, with the password'),
    port: z.number().int(),
    bind: z.string(),
    container: z.string(),
    volume: z.string().describe('where the queue keeps its data (kept by --stop)'),
  }),
  'fleet worker': z.strictObject({
    name: z.string(),
    slots: z.number().int(),
    cleared: z.array(
      z.strictObject({
        repo: z.string(),
        target: z.string(),
        what: z.enum(['agent', 'branch', 'gc']),
        reason: z.string(),
        savedPatch: z.string().optional(),
      }),
    ),
    completed: z.number().int().describe('attempts whose outcome the queue took'),
    failed: z
      .number()
      .int()
      .describe('attempts whose failure the queue took (retried while attempts remain)'),
    givenBack: z
      .number()
      .int()
      .describe(
        'attempts given back to the queue: the drain grace ran out, or this host could not make their environment',
      ),
    lost: z.number().int().describe('attempts stopped because this host lost their lock (they run again)'),
    cancelled: z.number().int().describe('attempts stopped because someone cancelled their task'),
  }),
  'fleet submit': z.strictObject({
    tasks: z.array(
      z.strictObject({
        name: z.string(),
        outcome: z.enum([
          'queued',
          'replaced',
          'already-waiting',
          'already-active',
          'already-delayed',
          'already-completed',
          'already-failed',
        ]),
      }),
    ),
    queued: z.number().int(),
    skipped: z.number().int().describe('tasks whose id the queue had already (a no-op)'),
  }),
  'fleet status': fleetStatusSchema,
  'fleet cancel': z.strictObject({
    name: z.string(),
    outcome: z
      .enum(['removed', 'cancelled', 'cancelling', 'already-completed', 'already-failed'])
      .describe(
        'removed: it was waiting, it is gone; cancelled: its host stopped it and recorded it failed; cancelling: asked, its host has not answered yet (any host that takes it cancels it)',
      ),
    host: z.string().nullable().describe('the host that ran it when it was cancelled'),
  }),
  'fleet wait': z.strictObject({ counts: fleetCountsSchema, failed: z.array(z.string()) }),
  // Streams (JSON_LINES_COMMANDS): one object per line, each time what they watch changes.
  'ls --watch': z
    .strictObject({ agents: z.array(entrySchema) })
    .describe("one line of ls --watch --json: the repository's agents as they are now"),
  'fleet status --watch': fleetStatusSchema.describe(
    'one line of fleet status --watch --json: the queue as it is now',
  ),
  ui: z
    .strictObject({
      url: text('the page, with its token: open it in a browser'),
      port: z.number().int().describe('the port on 127.0.0.1 the page is served on'),
    })
    .describe('printed once the page serves; berth ui then serves until Ctrl-C or SIGTERM'),
  version: z.strictObject({ version: text('berth`s version') }).describe('berth --version (-v) --json'),
  help: z
    .strictObject({
      for: text('the command the help is about ("" for berth itself)'),
      text: text('the help, as --help prints it'),
    })
    .describe('--help (-h), or berth help [command], with --json'),
} as const;

/**
 * The commands that take no --json, and why: their stdout belongs to another program. Given --json,
 * they refuse it with a usage error, and that error is the one object they print.
 */
export const commandsWithoutJson = {
  mcp: 'its stdout is the MCP protocol, which the MCP client reads',
  'agent-hooks claude': 'its stdout is what Claude Code reads from its hook (the worktree`s path)',
  'agent-hooks watch-claude': 'started detached by a hook, it prints nothing',
} as const;

/** The commands whose --json is a stream: one object per line (each on one line), not one in all. */
export const JSON_LINES_COMMANDS: readonly CommandName[] = ['ls --watch', 'fleet status --watch'];

/**
 * Results that only MCP tools return (no command prints them), in the same terms: with the results of
 * `resultSchemas`, they are the tools' output schemas.
 */
export const toolResultSchemas = {
  diff: z.strictObject({
    name: z.string(),
    branch: z.string(),
    base: text('what the branch is compared with: the commit where it left its base'),
    commits: z.array(z.strictObject({ sha: z.string(), subject: z.string() })),
    stat: text('`git diff --shortstat` of the branch against its base'),
    patch: text('the patch, at most 64 KiB of it').optional(),
    truncated: z.boolean().optional().describe('true when patch is only its first part'),
  }),
  logs: z.strictObject({
    name: z.string(),
    logs: z.array(logSchema).optional().describe("the hook logs' last parts (without service)"),
    service: z.string().optional().describe('the container whose log this is (with service)'),
    lines: z.array(z.string()).optional().describe("the container log's last lines (with service)"),
  }),
  'file read': z.strictObject({
    name: z.string(),
    path: text('the file, relative to the worktree'),
    size: z.number().int().describe('its size in bytes'),
    encoding: z
      .enum(['utf8', 'base64'])
      .describe(
        'utf8 when the file is UTF-8 text (unless base64 was asked, or its escaped text is over 2 MiB)',
      ),
    content: text('the file, the agent`s passwords and secret values as *** unless --show-secrets'),
  }),
  'file write': z.strictObject({
    name: z.string(),
    path: text('the file, relative to the worktree'),
    size: z.number().int().describe('bytes written'),
    created: z.boolean().describe('the file was new (its folders made as needed)'),
  }),
  'file list': z.strictObject({
    name: z.string(),
    path: text('the folder, relative to the worktree (. for its root)'),
    entries: z.array(
      z.strictObject({
        name: z.string(),
        type: z.enum(['file', 'folder', 'symlink', 'other']).describe('a symlink is shown, never followed'),
        size: z.number().int().describe('bytes, for a file'),
      }),
    ),
  }),
} as const;
export type ToolResultOf<T extends keyof typeof toolResultSchemas> = z.output<(typeof toolResultSchemas)[T]>;

export type CommandName = keyof typeof resultSchemas;
export type ResultOf<C extends CommandName> = z.output<(typeof resultSchemas)[C]>;

function errorEnvelope<S extends z.ZodType<string>>(command: S) {
  return z.strictObject({
    contract: z.literal(CONTRACT_VERSION),
    command,
    outcome: z.literal('error'),
    error: errorSchema,
  });
}

function successEnvelope<C extends CommandName>(command: C) {
  return z.strictObject({
    contract: z.literal(CONTRACT_VERSION),
    command: z.literal(command),
    outcome: z.literal('success'),
    result: resultSchemas[command],
  });
}

/** What every command prints with --json: exactly one object (one per line for JSON_LINES_COMMANDS). */
export function envelopeSchema<C extends CommandName>(command: C) {
  return z.union([successEnvelope(command), errorEnvelope(z.literal(command))]);
}

/** Every name the contract gives a command: the `command` of its objects. */
export function contractCommands(): string[] {
  return [...Object.keys(resultSchemas), ...Object.keys(commandsWithoutJson)];
}

/**
 * The error of a command berth does not have (an unknown one, a group such as `host` without its
 * command, or none): `command` is what was given, and never one of berth's.
 */
const unknownCommand = z
  .string()
  .describe('what was given for a command: no command of berth (unknown, incomplete, or none)');

/** The JSON schema of every command's --json output, for consumers: templates/berth.results.schema.json. */
export function resultsJsonSchema(): unknown {
  const commands = Object.keys(resultSchemas) as CommandName[];
  const all = z
    .union([
      ...commands.flatMap((command) => [successEnvelope(command), errorEnvelope(z.literal(command))]),
      ...Object.keys(commandsWithoutJson).map((command) => errorEnvelope(z.literal(command))),
      errorEnvelope(unknownCommand),
    ] as unknown as [z.ZodType, z.ZodType])
    .describe(
      `berth --json output, contract ${CONTRACT_VERSION}: every command prints one object, {contract, command, outcome: "success", result} or {contract, command, outcome: "error", error}; ${JSON_LINES_COMMANDS.join(' and ')} print one such object per line`,
    );
  return z.toJSONSchema(all, {
    io: 'output',
    reused: 'ref',
    override: ({ zodSchema, jsonSchema }) => {
      if (zodSchema === unknownCommand) jsonSchema.not = { enum: contractCommands() };
    },
  });
}
