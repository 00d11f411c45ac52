import { posix } from 'node:path';
import { readYaml } from '../config/yaml.js';
import { UsageError } from '../errors.js';

/**
 * A service as berth.yaml's `services:` map holds it (the shape both helpers of issue 27 build to):
 * the per-agent copy of one container the app needs.
 */
export interface ImportedService {
  image: string;
  command?: string | string[];
  env?: Record<string, string>;
  /** Container ports; each is leased on the host (127.0.0.1). */
  ports?: number[];
  ready?: { command: string[] };
  data?: 'ephemeral' | 'durable';
  /** Container paths holding data: tmpfs when ephemeral, a per-agent named volume when durable. */
  volumes?: string[];
  /** Bind mounts of paths inside the repository (relative to its root), from the agent's worktree. */
  mounts?: { source: string; path: string; readOnly?: boolean }[];
  dependsOn?: string[];
}

/** The service a devcontainer names as the agent's container, as far as berth takes it. */
export interface ImportedAgent {
  image?: string;
  /** Relative to the repository root. */
  build?: { context: string; dockerfile: string; args: Record<string, string> };
  command?: string | string[];
  env: Record<string, string>;
  /** Container ports (the app's), published on leased host ports. */
  ports: number[];
}

export interface ComposeImport {
  services: Record<string, ImportedService>;
  agent?: ImportedAgent;
  /** What was turned into what can be per agent, and keys not used: each said once. */
  notes: string[];
  /** What cannot be per agent: one line each, naming the service and the key. */
  errors: string[];
}

export interface ComposeFile {
  /** Its path relative to the repository root, with / (bind mounts are relative to its folder). */
  path: string;
  text: string;
}

export interface ComposeImportOptions {
  /** Services to take; default all (but `agentService`). */
  only?: string[];
  /** The service a devcontainer names as the agent's container: taken apart, never a service. */
  agentService?: string;
  /**
   * Reads a file of the repository (trusted working tree) by its relative path: env_file, and the
   * `.env` beside the first compose file, whose variables compose interpolates with.
   */
  readRepoFile?: (path: string) => string | undefined;
}

/** Names the built-in stack and berth's own containers take; a service may not have one. */
const RESERVED = ['agent', 'postgres', 'redis', 'egress'];
const SERVICE_NAME = /^[a-z][a-z0-9-]{0,30}$/;

/** Keys taken (or turned) per service; anything else is listed once as not used. */
const TAKEN = new Set([
  'image',
  'environment',
  'env_file',
  'command',
  'ports',
  'expose',
  'healthcheck',
  'volumes',
  'depends_on',
  'container_name',
  'restart',
  'networks',
]);
/** Keys refused per service, with why. */
const REFUSED: Record<string, string> = {
  privileged: 'a privileged container can take over the host',
  cap_add: 'added capabilities reach past the container',
  devices: "the host's devices are not per agent",
  build: 'berth runs images: build it and name the image',
  extends: 'berth reads one service definition as it stands: write the service out in full',
  entrypoint: "berth keeps the image's entrypoint: put the program in the image or in command",
};

/**
 * A repository's compose file(s), later ones merged over earlier ones as compose does, into the services
 * map of berth.yaml: what can be per agent is taken, what can be turned is turned and said once, what
 * cannot is an error naming the service and the key. Pure: the files' text is given.
 */
export function importCompose(files: ComposeFile[], options: ComposeImportOptions = {}): ComposeImport {
  const notes = new Notes();
  const errors: string[] = [];
  const source = files.map((file) => file.path).join(' + ');
  const documents = files.map((file) => {
    // Compose files use YAML's merge keys (<<: *common) for shared settings.
    const value = readYaml(file.text, file.path, 'compose-yaml', { merge: true });
    if (!isMap(value)) {
      throw new UsageError('compose-invalid', `${file.path} is not a compose file (no top-level map)`, {
        hint: 'name a compose file with a services: map',
      });
    }
    return value;
  });
  const merged = documents.reduce<Record<string, unknown>>((into, next) => mergeCompose(into, next), {});
  const dir = posix.dirname(files[0]?.path ?? '.');
  for (const key of Object.keys(merged)) {
    if (key === 'networks') notes.add('networks: dropped (each agent has its own private network)');
    else if (key === 'version' || key === 'name') notes.add(`${key}: not used`);
    else if (key !== 'services' && key !== 'volumes' && !key.startsWith('x-')) notes.add(`${key}: not used`);
  }
  const declared = isMap(merged.volumes) ? merged.volumes : {};
  for (const [volume, settings] of Object.entries(declared)) {
    if (!isMap(settings)) continue;
    if (settings.external)
      errors.push(`volumes.${volume}.external: an external volume is shared, not per agent`);
    for (const key of Object.keys(settings))
      if (key !== 'external' && !key.startsWith('x-'))
        notes.add(
          `volumes.${volume}.${key}: not used (each agent's volume is berth's own, named and labelled by it)`,
        );
  }
  const all = isMap(merged.services) ? merged.services : {};
  if (!isMap(merged.services)) errors.push(`${source}: no services: map`);
  const wanted = options.only ?? Object.keys(all).filter((name) => name !== options.agentService);
  for (const name of options.only ?? []) {
    if (!Object.hasOwn(all, name)) errors.push(`only: ${source} has no service "${name}"`);
    else if (name === options.agentService)
      errors.push(`only: "${name}" is the agent's container, not a service`);
  }
  const services: Record<string, ImportedService> = {};
  const context: ServiceContext = { dir, notes, errors, options, declared, imported: new Set(wanted) };
  const dotEnv = options.readRepoFile?.(posix.join(dir, '.env'));
  const variables = dotEnv === undefined ? {} : parseEnvFile(dotEnv);
  if (dotEnv !== undefined)
    notes.add(`${posix.join(dir, '.env')}: its variables interpolate the compose file, as compose's do`);
  // Compose interpolates every value of a service (ports and volumes too) before reading it; a service
  // whose interpolation failed is not read further (its errors say why).
  const definitionOf = (name: string): Record<string, unknown> | undefined | null => {
    if (!Object.hasOwn(all, name) || !isMap(all[name])) return undefined;
    const before = errors.length;
    const definition = interpolateTree(all[name], `services.${name}`, errors, variables);
    return errors.length > before ? null : (definition as Record<string, unknown>);
  };
  for (const name of wanted) {
    if (!Object.hasOwn(all, name) || name === options.agentService) continue;
    const definition = definitionOf(name);
    if (!SERVICE_NAME.test(name)) {
      errors.push(`services.${name}: a service name is lowercase letters, digits and -, 31 at most`);
      continue;
    }
    if (RESERVED.includes(name)) {
      errors.push(
        `services.${name}: "${name}" is berth's own${name === 'postgres' || name === 'redis' ? ` (use berth.yaml's ${name}: key, or leave it out with only)` : ''}`,
      );
      continue;
    }
    if (definition === null) continue;
    const service = importService(name, definition ?? {}, context);
    if (service) services[name] = service;
  }
  const agentDefinition = options.agentService ? definitionOf(options.agentService) : undefined;
  if (options.agentService && agentDefinition === undefined)
    errors.push(`service: ${source} has no service "${options.agentService}"`);
  const agent =
    options.agentService && isMap(agentDefinition)
      ? importAgent(options.agentService, agentDefinition, context)
      : undefined;
  return { services, ...(agent && { agent }), notes: notes.list(), errors };
}

/** The import, or one UsageError listing every line that cannot be per agent. */
export function composeServicesOrThrow(files: ComposeFile[], options: ComposeImportOptions = {}) {
  const result = importCompose(files, options);
  if (result.errors.length > 0) {
    const source = files.map((file) => file.path).join(' + ');
    throw new UsageError(
      'compose-import',
      `${source}: ${result.errors.length === 1 ? result.errors[0] : `${result.errors.length} definitions cannot be per agent`}`,
      {
        hint: 'change these in the compose file, or leave those services out with only:',
        details: result.errors.length === 1 ? [] : result.errors,
      },
    );
  }
  return result;
}

interface ServiceContext {
  dir: string;
  notes: Notes;
  errors: string[];
  options: ComposeImportOptions;
  declared: Record<string, unknown>;
  /** The services this import takes (a depends_on outside them cannot be met). */
  imported: Set<string>;
}

function importService(
  name: string,
  definition: Record<string, unknown>,
  context: ServiceContext,
): ImportedService | undefined {
  const { notes, errors } = context;
  const at = (key: string) => `services.${name}.${key}`;
  const before = errors.length;
  refusals(name, definition, context, false);
  for (const key of Object.keys(definition)) {
    if (!TAKEN.has(key) && !(key in REFUSED) && !REFUSED_SHARING.has(key) && !key.startsWith('x-'))
      notes.add(`${at(key)}: not used`);
  }
  turnedAway(name, definition, context);
  const image = typeof definition.image === 'string' ? definition.image : '';
  if (!definition.image && !definition.build) errors.push(`${at('image')}: missing (berth runs images)`);
  const service: ImportedService = { image: image ?? '' };
  const command = takeCommand(definition.command, at('command'), errors);
  if (command !== undefined) service.command = command;
  const env = takeEnvironment(name, definition, context);
  if (Object.keys(env).length > 0) service.env = env;
  const ports = takePorts(name, definition, context);
  if (ports.length > 0) service.ports = ports;
  const ready = takeHealthcheck(name, definition.healthcheck, context);
  if (ready) service.ready = ready;
  takeVolumes(name, definition.volumes, context, service);
  const dependsOn = takeDependsOn(name, definition.depends_on, context);
  if (dependsOn.length > 0) service.dependsOn = dependsOn;
  return errors.length > before ? undefined : service;
}

function importAgent(
  name: string,
  definition: Record<string, unknown>,
  context: ServiceContext,
): ImportedAgent | undefined {
  const { notes, errors } = context;
  const at = (key: string) => `services.${name}.${key}`;
  const before = errors.length;
  refusals(name, definition, context, true);
  for (const key of Object.keys(definition)) {
    if (
      !TAKEN.has(key) &&
      key !== 'build' &&
      key !== 'network_mode' &&
      !(key in REFUSED) &&
      !REFUSED_SHARING.has(key) &&
      !key.startsWith('x-')
    )
      notes.add(`${at(key)}: not used`);
  }
  turnedAway(name, definition, context);
  if (definition.volumes !== undefined)
    notes.add(`${at('volumes')}: dropped (berth mounts the agent's worktree itself)`);
  if (definition.healthcheck !== undefined) notes.add(`${at('healthcheck')}: not used for the agent`);
  const mode = definition.network_mode;
  if (typeof mode === 'string' && mode.startsWith('service:'))
    notes.add(
      `${at('network_mode')}: dropped (the agent reaches ${mode.slice('service:'.length)} by its name, not as localhost)`,
    );
  if (definition.depends_on !== undefined)
    notes.add(`${at('depends_on')}: the agent starts after every service, as always`);
  const agent: ImportedAgent = {
    env: takeEnvironment(name, definition, context),
    ports: takePorts(name, definition, context),
  };
  if (typeof definition.image === 'string') {
    if (definition.image) agent.image = definition.image;
  }
  if (definition.build !== undefined) {
    const build = takeBuild(name, definition.build, context);
    if (build) agent.build = build;
  }
  if (!agent.image && !agent.build) errors.push(`${at('image')}: missing (neither image nor build)`);
  const command = takeCommand(definition.command, at('command'), errors);
  if (command !== undefined) agent.command = command;
  return errors.length > before ? undefined : agent;
}

const REFUSED_SHARING = new Set(['network_mode', 'pid', 'ipc']);

function refusals(
  name: string,
  definition: Record<string, unknown>,
  context: ServiceContext,
  agent: boolean,
) {
  const at = (key: string) => `services.${name}.${key}`;
  for (const [key, why] of Object.entries(REFUSED)) {
    if (agent && key === 'build') continue;
    const value = definition[key];
    if (value === undefined || value === false || (Array.isArray(value) && value.length === 0)) continue;
    context.errors.push(`${at(key)}: ${why}`);
  }
  const mode = definition.network_mode;
  if (typeof mode === 'string' && !(agent && mode.startsWith('service:'))) {
    if (mode === 'bridge' || mode === 'default')
      context.notes.add(`${at('network_mode')}: dropped (each agent's services are on its private network)`);
    else if (mode === 'host') context.errors.push(`${at('network_mode')}: host networking is not per agent`);
    else if (mode === 'none')
      context.errors.push(
        `${at('network_mode')}: "none" leaves it unreachable: neither the agent nor berth's readiness probe could reach it`,
      );
    else
      context.errors.push(`${at('network_mode')}: "${mode}" shares another network; each agent has its own`);
  }
  for (const key of ['pid', 'ipc']) {
    const value = definition[key];
    if (value === undefined) continue;
    if (value === 'private' || value === 'shareable') {
      context.notes.add(`${at(key)}: not used (its ${key} namespace is its own already)`);
      continue;
    }
    context.errors.push(
      value === 'host'
        ? `${at(key)}: the host's ${key} namespace is not per agent`
        : `${at(key)}: "${String(value)}" shares another container's ${key} namespace`,
    );
  }
}

/** What is turned by leaving it out, said once. */
function turnedAway(name: string, definition: Record<string, unknown>, context: ServiceContext) {
  const at = (key: string) => `services.${name}.${key}`;
  if (definition.container_name !== undefined)
    context.notes.add(`${at('container_name')}: dropped (each agent's copy has berth's name)`);
  if (definition.restart !== undefined)
    context.notes.add(`${at('restart')}: dropped (berth.yaml's restart applies to the whole stack)`);
  if (definition.networks !== undefined)
    context.notes.add(`${at('networks')}: dropped (each agent has its own private network)`);
  if (definition.expose !== undefined)
    context.notes.add(`${at('expose')}: dropped (every port is reachable on the agent's network)`);
}

function takeCommand(value: unknown, at: string, errors: string[]): string | string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') {
    const words = shellWords(value);
    if (!words) errors.push(`${at}: an unclosed quote`);
    return words;
  }
  if (Array.isArray(value) && value.every((word) => typeof word === 'string' || typeof word === 'number'))
    return value.map((word) => String(word));
  errors.push(`${at}: expected a string or a list of strings`);
  return undefined;
}

function takeEnvironment(
  name: string,
  definition: Record<string, unknown>,
  context: ServiceContext,
): Record<string, string> {
  const at = (key: string) => `services.${name}.${key}`;
  const env: Record<string, string> = {};
  const files = definition.env_file;
  const fileList =
    files === undefined
      ? []
      : (Array.isArray(files) ? files : [files]).map((entry) => (isMap(entry) ? entry.path : entry));
  for (const [index, file] of fileList.entries()) {
    const entry = (Array.isArray(files) ? files : [files])[index];
    const optional = isMap(entry) && entry.required === false;
    if (typeof file !== 'string') {
      context.errors.push(`${at('env_file')}: expected a path`);
      continue;
    }
    const path = inRepository(context.dir, file);
    if (!path) {
      context.errors.push(`${at('env_file')}: ${file} is outside the repository`);
      continue;
    }
    const text = context.options.readRepoFile?.(path);
    if (text === undefined) {
      if (optional) context.notes.add(`${at('env_file')}: ${path} is missing and not required; skipped`);
      else context.errors.push(`${at('env_file')}: ${path} cannot be read`);
      continue;
    }
    Object.assign(env, parseEnvFile(text));
  }
  const environment = definition.environment;
  const entries: [string, unknown][] = Array.isArray(environment)
    ? environment.map((entry) => {
        const text = String(entry);
        const equals = text.indexOf('=');
        return equals < 0 ? [text, null] : [text.slice(0, equals), text.slice(equals + 1)];
      })
    : isMap(environment)
      ? Object.entries(environment)
      : [];
  if (environment !== undefined && !Array.isArray(environment) && !isMap(environment))
    context.errors.push(`${at('environment')}: expected a list or a map`);
  for (const [key, value] of entries) {
    if (value === null || value === undefined) {
      context.notes.add(
        `${at(`environment.${key}`)}: no value (compose takes it from the host's environment); left out`,
      );
      continue;
    }
    env[key] = String(value);
  }
  return env;
}

/**
 * A command line split into words as compose splits a string `command` (shell words: quotes and
 * backslashes, no expansion), so it runs as an array; undefined for an unclosed quote.
 */
export function shellWords(line: string): string[] | undefined {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let index = 0; index < line.length; index++) {
    const char = line[index] ?? '';
    if (quote === "'") {
      if (char === "'") quote = undefined;
      else word += char;
    } else if (quote === '"') {
      if (char === '"') quote = undefined;
      else if (char === '\\' && ['"', '\\', '$', '`'].includes(line[index + 1] ?? '')) word += line[++index];
      else word += char;
    } else if (char === "'" || char === '"') {
      quote = char;
      inWord = true;
    } else if (char === '\\') {
      word += line[++index] ?? '';
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += char;
      inWord = true;
    }
  }
  if (quote) return undefined;
  if (inWord) words.push(word);
  return words;
}

/** KEY=VALUE lines as compose's env_file reads them: # comments, blank lines, optional quotes. */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!match) continue;
    const [, key = '', rest = ''] = match;
    const quoted = /^(['"])(.*)\1$/.exec(rest);
    env[key] = quoted ? (quoted[2] ?? '') : rest.replace(/\s+#.*$/, '');
  }
  return env;
}

function takePorts(name: string, definition: Record<string, unknown>, context: ServiceContext): number[] {
  const at = `services.${name}.ports`;
  const ports: number[] = [];
  const value = definition.ports;
  if (value === undefined) return ports;
  if (!Array.isArray(value)) {
    context.errors.push(`${at}: expected a list`);
    return ports;
  }
  let fixed = false;
  for (const entry of value) {
    const parsed = parsePort(entry);
    if ('error' in parsed) {
      context.errors.push(`${at}: ${JSON.stringify(entry)}: ${parsed.error}`);
      continue;
    }
    if (parsed.published) fixed = true;
    for (const port of parsed.container) if (!ports.includes(port)) ports.push(port);
  }
  if (fixed)
    context.notes.add(
      `${at}: fixed host ports leased instead (each agent's copy gets its own, on 127.0.0.1)`,
    );
  return ports;
}

type ParsedPort = { container: number[]; published: boolean } | { error: string };

/** A compose port entry: 80, "80", "8080:80", "127.0.0.1:8080:80/tcp", "3000-3002", or the long form. */
export function parsePort(entry: unknown): ParsedPort {
  if (typeof entry === 'number') return validPorts([entry], false);
  if (isMap(entry)) {
    if (entry.protocol !== undefined && entry.protocol !== 'tcp')
      return { error: 'berth leases TCP ports only' };
    const target = Number(entry.target);
    return validPorts([target], entry.published !== undefined && entry.published !== '');
  }
  if (typeof entry !== 'string') return { error: 'expected a port' };
  const [spec = '', protocol] = entry.split('/');
  if (protocol !== undefined && protocol !== 'tcp') return { error: 'berth leases TCP ports only' };
  // host_ip may be IPv6 in brackets; the container part is always last.
  const parts = spec.replace(/^\[[^\]]*\]:/, 'ip:').split(':');
  const container = parts[parts.length - 1] ?? '';
  const range = /^(\d+)(?:-(\d+))?$/.exec(container);
  if (!range) return { error: 'not a port or a range of ports' };
  const low = Number(range[1]);
  const high = range[2] === undefined ? low : Number(range[2]);
  if (high < low || high - low >= 20) return { error: 'a range of at most 20 ports' };
  const list = Array.from({ length: high - low + 1 }, (_, index) => low + index);
  return validPorts(list, parts.length > 1);
}

function validPorts(ports: number[], published: boolean): ParsedPort {
  return ports.every((port) => Number.isInteger(port) && port >= 1 && port <= 65535)
    ? { container: ports, published }
    : { error: 'not a port (1-65535)' };
}

function takeHealthcheck(
  name: string,
  value: unknown,
  context: ServiceContext,
): { command: string[] } | undefined {
  const at = `services.${name}.healthcheck`;
  if (value === undefined) return undefined;
  if (!isMap(value)) {
    context.errors.push(`${at}: expected a map`);
    return undefined;
  }
  const timing = ['interval', 'timeout', 'retries', 'start_period', 'start_interval'].filter(
    (key) => key in value,
  );
  if (timing.length > 0)
    context.notes.add(
      `${at}: ${timing.join(', ')} not used (berth probes on its own schedule, up to healthTimeout)`,
    );
  if (value.disable === true) return undefined;
  const test = value.test;
  if (typeof test === 'string') {
    return { command: ['sh', '-c', test] };
  }
  if (!Array.isArray(test) || test.length === 0 || !test.every((word) => typeof word === 'string')) {
    context.errors.push(`${at}.test: expected a string or ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"]`);
    return undefined;
  }
  const [kind, ...rest] = test as string[];
  const words = rest;
  if (kind === 'NONE') return undefined;
  if (kind === 'CMD' && words.length > 0) return { command: words };
  if (kind === 'CMD-SHELL' && words.length === 1) return { command: ['sh', '-c', words[0] ?? ''] };
  context.errors.push(`${at}.test: expected ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"]`);
  return undefined;
}

function takeVolumes(name: string, value: unknown, context: ServiceContext, service: ImportedService): void {
  const at = `services.${name}.volumes`;
  if (value === undefined) return;
  if (!Array.isArray(value)) {
    context.errors.push(`${at}: expected a list`);
    return;
  }
  const paths: string[] = [];
  const mounts: NonNullable<ImportedService['mounts']> = [];
  let named = false;
  for (const entry of value) {
    const volume = parseVolume(entry);
    if ('error' in volume) {
      context.errors.push(`${at}: ${JSON.stringify(entry)}: ${volume.error}`);
      continue;
    }
    if (volume.type === 'bind') {
      const source = volume.source.startsWith('~') ? undefined : inRepository(context.dir, volume.source);
      if (!source) {
        context.errors.push(
          `${at}: ${volume.source} is outside the repository (only the repository's own paths are per agent)`,
        );
        continue;
      }
      mounts.push({ source, path: volume.target, ...(volume.readOnly && { readOnly: true }) });
      continue;
    }
    if (volume.type === 'volume' && volume.source) {
      if (!(volume.source in context.declared))
        context.notes.add(`${at}: volume ${volume.source} is not declared under volumes: (made per agent)`);
      named = true;
    }
    paths.push(volume.target);
  }
  if (paths.length > 0) {
    service.volumes = paths;
    service.data = named ? 'durable' : 'ephemeral';
    if (named) context.notes.add(`${at}: named volumes made per agent (data: durable)`);
  }
  if (mounts.length > 0) service.mounts = mounts;
}

type ParsedVolume =
  | { type: 'bind' | 'volume' | 'tmpfs'; source: string; target: string; readOnly: boolean }
  | { error: string };

/** A compose volume entry: "/data", "name:/data", "./dir:/data:ro", or the long form. */
export function parseVolume(entry: unknown): ParsedVolume {
  if (isMap(entry)) {
    const type = entry.type ?? 'volume';
    const target = entry.target;
    if (typeof target !== 'string' || !target.startsWith('/'))
      return { error: 'target: an absolute container path' };
    if (type !== 'bind' && type !== 'volume' && type !== 'tmpfs')
      return { error: `type ${String(type)}: not per agent` };
    const source = typeof entry.source === 'string' ? entry.source : '';
    if (type === 'bind' && !source) return { error: 'a bind mount needs a source' };
    return { type, source, target, readOnly: entry.read_only === true };
  }
  if (typeof entry !== 'string') return { error: 'expected a volume' };
  const parts = entry.split(':');
  if (parts.length === 1) {
    return entry.startsWith('/')
      ? { type: 'volume', source: '', target: entry, readOnly: false }
      : { error: 'a container path is absolute' };
  }
  const [source = '', target = '', mode = ''] = parts;
  if (parts.length > 3 || !target.startsWith('/')) return { error: 'expected SOURCE:TARGET[:MODE]' };
  const readOnly = mode.split(',').includes('ro');
  const bind = /^[./~]/.test(source) || source.includes('/');
  return { type: bind ? 'bind' : 'volume', source, target, readOnly };
}

function takeDependsOn(name: string, value: unknown, context: ServiceContext): string[] {
  const at = `services.${name}.depends_on`;
  if (value === undefined) return [];
  const names = Array.isArray(value) ? value.map(String) : isMap(value) ? Object.keys(value) : undefined;
  if (!names) {
    context.errors.push(`${at}: expected a list or a map`);
    return [];
  }
  if (isMap(value)) {
    const conditions = Object.values(value).filter(
      (settings) => isMap(settings) && settings.condition && settings.condition !== 'service_started',
    );
    if (conditions.length > 0)
      context.notes.add(
        `${at}: conditions not used (berth starts services in order and waits for each to be ready)`,
      );
  }
  const taken: string[] = [];
  for (const dependency of names) {
    if (dependency === context.options.agentService) {
      context.errors.push(`${at}: ${dependency} is the agent's container, which starts after every service`);
    } else if (!context.imported.has(dependency)) {
      context.errors.push(`${at}: ${dependency} is not imported (add it to only)`);
    } else taken.push(dependency);
  }
  return taken;
}

function takeBuild(name: string, value: unknown, context: ServiceContext): ImportedAgent['build'] {
  const at = `services.${name}.build`;
  const settings = typeof value === 'string' ? { context: value } : isMap(value) ? value : undefined;
  if (!settings) {
    context.errors.push(`${at}: expected a path or a map`);
    return undefined;
  }
  const buildContext = inRepository(context.dir, String(settings.context ?? '.'));
  if (!buildContext) {
    context.errors.push(`${at}.context: outside the repository`);
    return undefined;
  }
  const dockerfile = inRepository(buildContext, String(settings.dockerfile ?? 'Dockerfile'));
  if (!dockerfile) {
    context.errors.push(`${at}.dockerfile: outside the repository`);
    return undefined;
  }
  const args: Record<string, string> = {};
  const raw = settings.args;
  if (isMap(raw)) for (const [key, arg] of Object.entries(raw)) args[key] = String(arg ?? '');
  else if (Array.isArray(raw))
    for (const entry of raw.map(String)) {
      const [key = '', ...rest] = entry.split('=');
      args[key] = rest.join('=');
    }
  for (const key of Object.keys(settings))
    if (!['context', 'dockerfile', 'args'].includes(key)) context.notes.add(`${at}.${key}: not used`);
  return { context: buildContext, dockerfile, args };
}

/** Every string of a compose value interpolated (keys are not), each error naming where it is. */
function interpolateTree(
  value: unknown,
  at: string,
  errors: string[],
  variables: Record<string, string>,
): unknown {
  if (typeof value === 'string') return interpolate(value, at, errors, variables);
  if (Array.isArray(value))
    return value.map((item, index) => interpolateTree(item, `${at}.${index}`, errors, variables));
  if (isMap(value))
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        interpolateTree(item, `${at}.${key}`, errors, variables),
      ]),
    );
  return value;
}

/**
 * Compose's own interpolation, as compose does it with its project's `.env`: `${NAME}` and `$NAME` from
 * that file's variables, `${NAME:-default}` (unset or empty) and `${NAME-default}` (unset), `${NAME:?why}`
 * and `${NAME?why}` required, `$$` a literal `$`. The host's environment is never read (an agent must
 * not depend on who provisions it): a variable the `.env` lacks needs a default.
 */
function interpolate(text: string, at: string, errors: string[], variables: Record<string, string>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, braced?: string, operator?: string, fallback?: string, bare?: string) => {
      if (match === '$$') return '$';
      const variable = braced ?? bare ?? '';
      const value = Object.hasOwn(variables, variable) ? variables[variable] : undefined;
      if (operator === ':-') return value ? value : (fallback ?? '');
      if (operator === '-') return value ?? fallback ?? '';
      const set = operator === ':?' ? Boolean(value) : value !== undefined;
      if (set) return value as string;
      errors.push(
        operator === ':?' || operator === '?'
          ? `${at}: \${${variable}} is required${fallback ? ` (${fallback})` : ''}, and neither the .env beside the compose file nor a default gives it`
          : `${at}: \${${variable}} would come from the host's environment; set it in the .env beside the compose file, or give it a default (\${${variable}:-value})`,
      );
      return match;
    },
  );
}

/** `path` (relative to `dir`, both relative to the repository root) inside the repository, else undefined. */
export function inRepository(dir: string, path: string): string | undefined {
  if (posix.isAbsolute(path) || path.startsWith('~')) return undefined;
  const joined = posix.normalize(posix.join(dir, path));
  if (joined === '..' || joined.startsWith('../') || inGitFolder(joined)) return undefined;
  return joined.replace(/\/$/, '') || '.';
}

/**
 * A path (relative to the repository root) in its git folder: never one of the repository's own files.
 * Agents write there (it is shared with their containers), and berth keeps its state there.
 */
export function inGitFolder(path: string): boolean {
  return path.split('/')[0] === '.git';
}

/**
 * Compose's merge of a later file over an earlier one: maps merge key by key; environment (either
 * form), labels and build args merge by name; ports, volumes and expose add up; anything else the later
 * file replaces.
 */
export function mergeCompose(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const result: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const before = result[key];
    if (key === 'environment' || key === 'labels' || key === 'args')
      result[key] = { ...asMap(before), ...asMap(value) };
    else if (
      (key === 'ports' || key === 'volumes' || key === 'expose') &&
      Array.isArray(before) &&
      Array.isArray(value)
    )
      result[key] = [
        ...before,
        ...value.filter((entry) => !before.some((old) => JSON.stringify(old) === JSON.stringify(entry))),
      ];
    else if (isMap(before) && isMap(value)) result[key] = mergeCompose(before, value);
    else result[key] = value;
  }
  return result;
}

function asMap(value: unknown): Record<string, unknown> {
  if (isMap(value)) return value;
  if (!Array.isArray(value)) return {};
  return Object.fromEntries(
    value.map((entry) => {
      const text = String(entry);
      const equals = text.indexOf('=');
      return equals < 0 ? [text, null] : [text.slice(0, equals), text.slice(equals + 1)];
    }),
  );
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Lines said once each, in the order first said. */
class Notes {
  private readonly seen = new Set<string>();
  add(line: string): void {
    this.seen.add(line);
  }
  list(): string[] {
    return [...this.seen];
  }
}
