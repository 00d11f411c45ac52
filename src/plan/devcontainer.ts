import { posix } from 'node:path';
import { type ParseError, parse, printParseErrorCode } from 'jsonc-parser';
import { UsageError } from '../errors.js';
import { type ComposeFile, type ImportedService, importCompose, inRepository } from './compose-import.js';
import { shellQuote } from './shell.js';

/** Where berth looks for a repository's devcontainer.json, first found wins (the spec's own order). */
export const DEVCONTAINER_FILES = ['.devcontainer/devcontainer.json', '.devcontainer.json'];

/** The berth.yaml fields a devcontainer.json gives: berth.yaml's own, where set, win over these. */
export interface DevcontainerFields {
  agent?: {
    image?: string;
    build?: { context: string; dockerfile: string; args: Record<string, string> };
    command?: string[];
    env?: Record<string, string>;
  };
  hooks?: { setup?: string[] };
  ports?: { app?: Record<string, number> };
  services?: Record<string, ImportedService>;
}

export interface DevcontainerPlan {
  fields: DevcontainerFields;
  /** The compose files and services it names (paths relative to the repository root). */
  compose?: { files: string[]; service: string; runServices?: string[] };
  /** What was turned, and keys berth does not use: each said once. */
  notes: string[];
  /** The same of the compose files it names, said with their paths. */
  composeNotes?: string[];
  /** What berth cannot do: one line each, naming the key. */
  errors: string[];
}

/** Keys taken; the lifecycle commands run as setup hooks in the agent, in the spec's order. */
const LIFECYCLE = ['onCreateCommand', 'updateContentCommand', 'postCreateCommand', 'postStartCommand'];
const TAKEN = new Set([
  'image',
  'build',
  'dockerFile',
  'context',
  'containerEnv',
  'remoteEnv',
  'remoteUser',
  'containerUser',
  'forwardPorts',
  'features',
  'dockerComposeFile',
  'service',
  'runServices',
  'overrideCommand',
  '$schema',
  // Said apart, below, with why.
  'initializeCommand',
  'postAttachCommand',
  'waitFor',
  ...LIFECYCLE,
]);

/**
 * devcontainer.json as the spec reads it (JSON with comments and trailing commas), into the berth.yaml
 * fields of the agent's container. `path` is the file's path relative to the repository root: its
 * build context, Dockerfile and compose files are relative to its folder. Pure: the text is given.
 */
export function planDevcontainer(text: string, path: string): DevcontainerPlan {
  const json = parseJsonc(text, path);
  const notes = new Set<string>();
  const errors: string[] = [];
  const dir = posix.dirname(path);
  const fields: DevcontainerFields = {};
  const agent: NonNullable<DevcontainerFields['agent']> = {};

  for (const key of Object.keys(json)) if (!TAKEN.has(key)) notes.add(`${key}: not used`);
  if (json.initializeCommand !== undefined)
    notes.add('initializeCommand: not run (it runs on the host; devcontainer.json decides nothing there)');

  const features = json.features;
  if (isMap(features)) {
    for (const feature of Object.keys(features))
      errors.push(
        feature.startsWith('./') || feature.startsWith('../')
          ? `features: "${feature}" is a local feature, which berth does not install; install it in the image instead`
          : `features: "${feature}" comes from a feature registry, and no registry is reachable from berth; install it in the image instead`,
      );
  }

  const composeFiles = json.dockerComposeFile;
  const sources = [
    json.image !== undefined,
    json.build !== undefined || json.dockerFile !== undefined,
    composeFiles !== undefined,
  ].filter(Boolean).length;
  if (sources > 1) errors.push('image, build and dockerComposeFile: give one of them');
  if (typeof json.image === 'string') agent.image = json.image;
  else if (json.image !== undefined) errors.push('image: expected a string');

  if (json.build !== undefined || json.dockerFile !== undefined) {
    const build = isMap(json.build) ? json.build : {};
    const dockerfile = build.dockerfile ?? build.dockerFile ?? json.dockerFile;
    const context = build.context ?? json.context ?? '.';
    const contextPath = typeof context === 'string' ? inRepository(dir, context) : undefined;
    const dockerfilePath = typeof dockerfile === 'string' ? inRepository(dir, dockerfile) : undefined;
    if (typeof dockerfile !== 'string') errors.push('build.dockerfile: expected the Dockerfile`s path');
    else if (!dockerfilePath) errors.push(`build.dockerfile: ${dockerfile} is outside the repository`);
    if (!contextPath) errors.push(`build.context: ${String(context)} is outside the repository`);
    const args: Record<string, string> = {};
    if (isMap(build.args))
      for (const [key, value] of Object.entries(build.args)) {
        const variable = String(value).match(/\$\{[^}]*\}/);
        if (variable)
          notes.add(
            `build.args.${key}: ${variable[0]} is not substituted (the host's environment decides nothing in an agent); left out`,
          );
        else args[key] = String(value);
      }
    for (const key of Object.keys(build))
      if (!['dockerfile', 'dockerFile', 'context', 'args'].includes(key)) notes.add(`build.${key}: not used`);
    if (contextPath && dockerfilePath)
      agent.build = { context: contextPath, dockerfile: dockerfilePath, args };
  }

  const env = {
    ...takeEnv(json.containerEnv, 'containerEnv', notes, errors),
    ...takeEnv(json.remoteEnv, 'remoteEnv', notes, errors),
  };
  if (Object.keys(env).length > 0) agent.env = env;

  for (const key of ['remoteUser', 'containerUser']) {
    if (json[key] !== undefined)
      notes.add(
        `${key}: not used (berth runs the agent's container and commands as the worktree's owner, so the files it writes stay theirs)`,
      );
  }
  if (json.overrideCommand === false)
    notes.add('overrideCommand: false is not used (berth keeps agent.command)');

  const setup = LIFECYCLE.flatMap((key) => takeLifecycle(json[key], key, errors));
  if (setup.length > 0) fields.hooks = { setup };
  for (const key of ['postAttachCommand', 'waitFor'])
    if (json[key] !== undefined) notes.add(`${key}: not used (berth attaches nothing)`);

  const app = takeForwardPorts(json.forwardPorts, notes, errors);
  if (Object.keys(app).length > 0) fields.ports = { app };

  let compose: DevcontainerPlan['compose'];
  if (composeFiles !== undefined) {
    const list = typeof composeFiles === 'string' ? [composeFiles] : composeFiles;
    const service = json.service;
    if (!Array.isArray(list) || list.length === 0 || !list.every((file) => typeof file === 'string')) {
      errors.push('dockerComposeFile: expected a path or a list of paths');
    } else if (typeof service !== 'string') {
      errors.push('service: name the compose service that is the agent`s container');
    } else {
      const files = list.map((file) => ({ file, path: inRepository(dir, file) }));
      for (const { file, path: inside } of files)
        if (!inside) errors.push(`dockerComposeFile: ${file} is outside the repository`);
      const runServices = json.runServices;
      if (
        runServices !== undefined &&
        !(Array.isArray(runServices) && runServices.every((name) => typeof name === 'string'))
      )
        errors.push('runServices: expected a list of service names');
      compose = {
        files: files.map(({ path: inside }) => inside ?? ''),
        service,
        ...(Array.isArray(runServices) && {
          runServices: (runServices as string[]).filter((name) => name !== service),
        }),
      };
    }
  } else if (json.service !== undefined || json.runServices !== undefined) {
    errors.push('service and runServices: they need dockerComposeFile');
  }

  if (Object.keys(agent).length > 0) fields.agent = agent;
  return { fields, ...(compose && { compose }), notes: [...notes], errors };
}

/**
 * The plan with its compose files read (paths and texts, in the plan's order): the named service
 * becomes the agent's container (image or build, environment, command, ports as app ports), the
 * others (runServices, else all) berth.yaml's services. devcontainer.json's own keys win over the
 * compose service's, as in the spec.
 */
export function withCompose(
  plan: DevcontainerPlan,
  files: ComposeFile[],
  readRepoFile?: (path: string) => string | undefined,
): DevcontainerPlan {
  if (!plan.compose) return plan;
  const imported = importCompose(files, {
    agentService: plan.compose.service,
    ...(plan.compose.runServices && { only: plan.compose.runServices }),
    ...(readRepoFile && { readRepoFile }),
  });
  const fields: DevcontainerFields = { ...plan.fields };
  const from = imported.agent;
  if (from) {
    const agent = { ...fields.agent };
    if (from.image && !agent.image) agent.image = from.image;
    if (from.build && !agent.build) agent.build = from.build;
    if (from.command !== undefined)
      agent.command = typeof from.command === 'string' ? ['sh', '-c', from.command] : from.command;
    const env = { ...from.env, ...agent.env };
    if (Object.keys(env).length > 0) agent.env = env;
    fields.agent = agent;
    const app = {
      ...Object.fromEntries(from.ports.map((port) => [`port_${port}`, port])),
      ...fields.ports?.app,
    };
    if (Object.keys(app).length > 0) fields.ports = { app };
  }
  if (Object.keys(imported.services).length > 0) fields.services = imported.services;
  return {
    ...plan,
    fields,
    composeNotes: imported.notes,
    errors: [...plan.errors, ...imported.errors],
  };
}

/** A plan with errors as one UsageError (nothing is made). */
export function devcontainerOrThrow(plan: DevcontainerPlan, path: string): DevcontainerPlan {
  if (plan.errors.length === 0) return plan;
  throw new UsageError(
    'devcontainer-invalid',
    `${path}: ${plan.errors.length === 1 ? plan.errors[0] : `${plan.errors.length} settings berth cannot use`}`,
    {
      hint: 'change devcontainer.json, or set devcontainer: false in berth.yaml to leave it out',
      details: plan.errors.length === 1 ? [] : plan.errors,
    },
  );
}

/** JSON with comments and trailing commas (the spec's JSONC), parsed by Microsoft's jsonc-parser. */
export function parseJsonc(text: string, path: string): Record<string, unknown> {
  const errors: ParseError[] = [];
  const value = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  const first = errors[0];
  if (first) {
    const before = text.slice(0, first.offset).split('\n');
    throw new UsageError(
      'devcontainer-json',
      `${path} is not valid JSON with comments at line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}: ${printParseErrorCode(first.error)}`,
      { hint: 'fix the syntax (comments and trailing commas are fine)' },
    );
  }
  if (!isMap(value))
    throw new UsageError('devcontainer-json', `${path} is not a JSON object`, {
      hint: 'devcontainer.json holds one object',
    });
  return value;
}

/** devcontainer.json's workspace variables: berth mounts the worktree at its own path, so both are it. */
const WORKSPACE = /\$\{(?:container|local)WorkspaceFolder(Basename)?\}/g;

/**
 * A value with the workspace variables (`${containerWorkspaceFolder}`, `${localWorkspaceFolder}` and
 * their `Basename`s) filled in: the agent's worktree, the same path in its container and on the host.
 * Applied where the worktree is known: the agent's environment and its hooks' lines.
 */
export function withWorkspace(text: string, worktree: string): string {
  return text.replace(WORKSPACE, (_, basename?: string) => (basename ? posix.basename(worktree) : worktree));
}

/**
 * containerEnv and remoteEnv values: the workspace variables are filled in later (withWorkspace); other
 * devcontainer variables, which name the host's environment (${localEnv:X}) or the container's
 * (${containerEnv:X}), are not substituted: such a value is left out and said.
 */
function takeEnv(value: unknown, key: string, notes: Set<string>, errors: string[]): Record<string, string> {
  if (value === undefined) return {};
  if (!isMap(value)) {
    errors.push(`${key}: expected a map of names to values`);
    return {};
  }
  const env: Record<string, string> = {};
  for (const [name, text] of Object.entries(value)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      errors.push(`${key}.${name}: not a valid variable name`);
      continue;
    }
    if (text === null) {
      notes.add(`${key}.${name}: null (unset) is not used`);
      continue;
    }
    const value = String(text);
    const other = value.replace(WORKSPACE, '').match(/\$\{[^}]*\}/);
    if (other) {
      notes.add(
        other[0].startsWith('${localEnv:')
          ? `${key}.${name}: ${other[0]} would come from the host's environment, which decides nothing in an agent; left out`
          : `${key}.${name}: ${other[0]} is not substituted in a variable's value; left out`,
      );
      continue;
    }
    env[name] = value;
  }
  return env;
}

/**
 * A lifecycle command (a shell line, a command as words, or an object of either) as setup lines, run by
 * sh in the agent's container: `${containerEnv:X}` is that container's $X, so it becomes `${X}`; the
 * workspace variables are filled in when the hook runs; `${localEnv:X}` is refused (the host's
 * environment decides nothing in an agent).
 */
function takeLifecycle(value: unknown, key: string, errors: string[]): string[] {
  if (value === undefined) return [];
  const line = (command: unknown, at: string): string[] => {
    const words =
      Array.isArray(command) && command.length > 0 && command.every((word) => typeof word === 'string');
    if (typeof command !== 'string' && !words) {
      errors.push(`${at}: expected a shell line, a list of words or an object of them`);
      return [];
    }
    const text = typeof command === 'string' ? command : command.join(' ');
    const local = text.match(/\$\{localEnv:[^}]*\}/);
    if (local) {
      errors.push(
        `${at}: ${local[0]} would come from the host's environment, which decides nothing in an agent`,
      );
      return [];
    }
    if (typeof command === 'string')
      return command.trim() ? [command.replace(CONTAINER_ENV, shellVariable)] : [];
    return [(command as string[]).map(quoteWord).join(' ')];
  };
  if (isMap(value))
    return Object.entries(value).flatMap(([name, command]) => line(command, `${key}.${name}`));
  return line(value, key);
}

/** `${containerEnv:NAME}` and `${containerEnv:NAME:default}`: the container's variable. */
const CONTAINER_ENV = /\$\{containerEnv:([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}/g;

function shellVariable(_: string, name: string, fallback?: string): string {
  return fallback === undefined ? `\${${name}}` : `\${${name}:-${fallback.replace(/[\\"$`]/g, '\\$&')}}`;
}

/** One word of a command given as words, quoted for sh, its `${containerEnv:X}` expanded in double quotes. */
function quoteWord(word: string): string {
  const parts = word.split(new RegExp(CONTAINER_ENV.source));
  let quoted = '';
  for (let i = 0; i < parts.length; i += 3) {
    if (parts[i]) quoted += shellQuote(parts[i] as string);
    if (i + 1 < parts.length) quoted += `"${shellVariable('', parts[i + 1] as string, parts[i + 2])}"`;
  }
  return quoted || "''";
}

/** forwardPorts' numbers as app ports (port_N); "service:port" entries name a service's port. */
function takeForwardPorts(value: unknown, notes: Set<string>, errors: string[]): Record<string, number> {
  if (value === undefined) return {};
  if (!Array.isArray(value)) {
    errors.push('forwardPorts: expected a list');
    return {};
  }
  const app: Record<string, number> = {};
  for (const entry of value) {
    const port =
      typeof entry === 'number'
        ? entry
        : typeof entry === 'string' && /^\d+$/.test(entry)
          ? Number(entry)
          : undefined;
    const local = typeof entry === 'string' ? /^(?:localhost|127\.0\.0\.1):(\d+)$/.exec(entry) : null;
    const number = port ?? (local ? Number(local[1]) : undefined);
    if (number !== undefined && Number.isInteger(number) && number >= 1 && number <= 65535)
      app[`port_${number}`] = number;
    else if (typeof entry === 'string' && /^[^:]+:\d+$/.test(entry))
      notes.add(`forwardPorts: ${entry} not forwarded (a service's ports are leased on the host already)`);
    else errors.push(`forwardPorts: ${JSON.stringify(entry)} is not a port`);
  }
  return app;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
