import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { stringify } from 'yaml';
import type { z } from 'zod';
import { UsageError } from '../errors.js';
import { composeServicesOrThrow, inGitFolder } from '../plan/compose-import.js';
import {
  DEVCONTAINER_FILES,
  type DevcontainerFields,
  devcontainerOrThrow,
  planDevcontainer,
  withCompose,
} from '../plan/devcontainer.js';
import { type BerthConfig, configSchema, crossFieldProblems } from './schema.js';
import { readYaml } from './yaml.js';

export const CONFIG_FILE = 'berth.yaml';

export interface LoadOptions {
  /**
   * The devcontainer.json to take the agent container from (a path in the repository, relative to its
   * root), or false for none; default: berth.yaml's `devcontainer`, else the first of
   * DEVCONTAINER_FILES the repository has.
   */
  devcontainer?: string | false;
  /** Hears what the imports turned and the keys they do not use, one line each. */
  notes?: (line: string) => void;
  /** false: berth.yaml alone, no devcontainer.json and no compose import read (a file checked apart from its repository). */
  imports?: boolean;
}

/**
 * Reads berth.yaml (or `explicitPath`); without a file, the defaults. The repository's devcontainer.json
 * and compose files named by it are read from `repoRoot` (the trusted working tree).
 */
export function loadConfig(repoRoot: string, explicitPath?: string, options: LoadOptions = {}): BerthConfig {
  const path = explicitPath ?? join(repoRoot, CONFIG_FILE);
  if (!existsSync(path)) {
    if (explicitPath) {
      throw new UsageError('config-missing', `config file ${explicitPath} does not exist`, {
        hint: 'pass the path of a berth.yaml, or leave --config out to use the defaults',
      });
    }
    return parseConfig('', CONFIG_FILE, { ...options, root: repoRoot });
  }
  return parseConfig(readFileSync(path, 'utf8'), path, { ...options, root: repoRoot });
}

/**
 * The config, and the text of a berth.yaml that gives it without reading anything else: berth.yaml's own
 * text when nothing was imported, else the YAML of the fields it and the imported files gave together
 * (with `devcontainer: false`), so a copy kept for an agent stays what the agent was made with.
 */
export function loadConfigWithText(
  repoRoot: string,
  explicitPath?: string,
  options: LoadOptions = {},
): { config: BerthConfig; text: string } {
  const path = explicitPath ?? join(repoRoot, CONFIG_FILE);
  if (explicitPath && !existsSync(path))
    return { config: loadConfig(repoRoot, explicitPath, options), text: '' };
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  let imported: Record<string, unknown> | undefined;
  const config = parseConfig(text, existsSync(path) ? path : CONFIG_FILE, {
    ...options,
    root: repoRoot,
    onImported: (value) => {
      imported = value;
    },
  });
  if (!imported) return { config, text };
  const header = `# ${path}, with what the repository's devcontainer.json and compose files gave, as read then`;
  return { config, text: `${header}\n${stringify({ ...imported, devcontainer: false })}` };
}

export function parseConfig(
  text: string,
  source = CONFIG_FILE,
  imports?: LoadOptions & { root: string; onImported?: (value: Record<string, unknown>) => void },
): BerthConfig {
  const renamed: Array<{ name: string; now: string }> = [];
  const written = renamedKeys(readYaml(text, source, 'config-yaml') ?? {}, source, (line, names) => {
    renamed.push(names);
    imports?.notes?.(line);
  });
  // A bad value under an older name is said under the name the user wrote.
  const asWritten = (detail: string) => {
    const found = renamed.find(({ now }) => detail.startsWith(`${now}:`));
    return found ? `${found.name} (read as ${found.now})${detail.slice(found.now.length)}` : detail;
  };
  const value =
    imports && imports.imports !== false && isMap(written)
      ? withImports(written, imports.root, imports)
      : written;
  if (value !== written && isMap(value)) imports?.onImported?.(value);
  // A field the repository's devcontainer.json or compose file gave is theirs to fix, not berth.yaml's.
  const named = value !== written ? `${source} (with what devcontainer.json and compose files gave)` : source;
  const result = configSchema.safeParse(value);
  if (!result.success) {
    const details = result.error.issues.flatMap(describeUnion).map(describeIssue).map(asWritten);
    throw new UsageError('config-invalid', `${named} has ${details.length} bad field(s)`, {
      hint: 'fix the fields listed; the JSON schema in templates/berth.schema.json helps editors check them',
      details,
    });
  }
  const problems = crossFieldProblems(result.data);
  if (problems.length > 0) {
    throw new UsageError('config-invalid', `${named} has ${problems.length} bad field(s)`, {
      hint: 'fix the fields listed',
      details: problems.map(asWritten),
    });
  }
  return result.data;
}

/** Keys an older berth read, by the name each has now (the word "lease" is the host's ports' and subnets'). */
export const RENAMED_KEYS: ReadonlyArray<{ path: readonly string[]; now: string }> = [
  { path: ['leaseTtl'], now: 'ttl' },
  { path: ['claude', 'lease'], now: 'ttl' },
];

/**
 * The config with each key an older berth read under its name of now (said once; an agent's kept copy of
 * an older config reads as it did). Both names at once is a bad field.
 */
export function renamedKeys(
  written: unknown,
  source: string,
  notes?: (line: string, names: { name: string; now: string }) => void,
): unknown {
  if (!isMap(written)) return written;
  const result: Record<string, unknown> = { ...written };
  for (const { path, now } of RENAMED_KEYS) {
    const parents = path.slice(0, -1);
    const old = path[path.length - 1] as string;
    // Copied on the way down: the parsed YAML is not changed.
    let map: Record<string, unknown> | undefined = result;
    for (const key of parents) {
      const inner: unknown = map?.[key];
      if (!map || !isMap(inner)) {
        map = undefined;
        break;
      }
      map[key] = { ...inner };
      map = map[key] as Record<string, unknown>;
    }
    if (!map || !Object.hasOwn(map, old)) continue;
    const name = [...parents, old].join('.');
    const newName = [...parents, now].join('.');
    if (Object.hasOwn(map, now))
      throw new UsageError('config-invalid', `${source} has both ${name} and ${newName}`, {
        hint: `${name} is the older name of ${newName}: keep ${newName} only`,
      });
    map[now] = map[old];
    delete map[old];
    notes?.(`${source}: ${name} is read as ${newName} (its name now)`, { name, now: newName });
  }
  return result;
}

/**
 * `services:` is a map of services or an import ({ from, only }): when it is neither, the issues of the
 * form it came nearest to (its deepest issues, then the fewest) say what is wrong, not "Invalid input".
 */
function describeUnion(issue: z.core.$ZodIssue): z.core.$ZodIssue[] {
  if (issue.code !== 'invalid_union' || issue.path[0] !== 'services' || issue.errors.length === 0)
    return [issue];
  const depth = (issues: z.core.$ZodIssue[]) => Math.max(...issues.map((i) => i.path.length));
  const [nearest] = [...issue.errors].sort((a, b) => depth(b) - depth(a) || a.length - b.length);
  return (nearest ?? []).map((inner) => ({ ...inner, path: [...issue.path, ...inner.path] }));
}

/** A bad key of a record: what is wrong with it (its own rule's words), not "Invalid key in record". */
function keyMessage(issue: z.core.$ZodIssue): string {
  if (issue.code !== 'invalid_key') return issue.message;
  return issue.issues.map((inner) => inner.message).join('; ') || issue.message;
}

/**
 * berth.yaml's value with what the repository's own files give: the devcontainer.json's fields under
 * berth.yaml's (berth.yaml wins field by field; maps such as agent.env and ports.app merge name by
 * name), and `services: { from, only }` expanded into the services map from the compose file.
 */
export function withImports(
  written: Record<string, unknown>,
  root: string,
  options: LoadOptions = {},
): Record<string, unknown> {
  const notes = options.notes ?? (() => {});
  const read = (path: string) => readRepoFile(root, path);
  let value = written;
  const devcontainer = devcontainerPath(root, options.devcontainer ?? written.devcontainer);
  if (devcontainer) {
    const text = read(devcontainer);
    if (text === undefined)
      throw new UsageError('devcontainer-missing', `${devcontainer} does not exist in ${root}`, {
        hint: 'name a devcontainer.json in the repository',
      });
    let plan = planDevcontainer(text, devcontainer);
    if (plan.compose && plan.errors.length === 0) {
      const files = plan.compose.files.map((path) => ({ path, text: composeText(root, path, devcontainer) }));
      plan = withCompose(plan, files, read);
    }
    devcontainerOrThrow(plan, devcontainer);
    for (const note of plan.notes) notes(`${devcontainer}: ${note}`);
    for (const note of plan.composeNotes ?? []) notes(`${plan.compose?.files.join(' + ')}: ${note}`);
    const fields: DevcontainerFields = { ...plan.fields };
    if (fields.services && value.services !== undefined) {
      notes(`${devcontainer}: runServices not used (berth.yaml's services: wins)`);
      delete fields.services;
    }
    value = mergeUnder(fields as Record<string, unknown>, value);
  }
  const services = value.services;
  if (isMap(services) && typeof services.from === 'string') {
    const from = services.from;
    const only = services.only;
    const extra = Object.keys(services).filter((key) => key !== 'from' && key !== 'only');
    if (
      extra.length > 0 ||
      (only !== undefined && !(Array.isArray(only) && only.every((n) => typeof n === 'string')))
    )
      throw new UsageError('config-invalid', `services: an import is { from: FILE, only: [NAMES] }`, {
        hint: extra.length > 0 ? `leave out ${extra.join(', ')}` : 'only: a list of service names',
      });
    const path = inside(root, from);
    if (!path)
      throw new UsageError('compose-import', `services.from: ${from} is outside the repository`, {
        hint: 'name a compose file in the repository',
      });
    const imported = composeServicesOrThrow([{ path, text: composeText(root, path, 'services.from') }], {
      ...(only !== undefined && { only: only as string[] }),
      readRepoFile: read,
    });
    for (const note of imported.notes) notes(`${path}: ${note}`);
    value = { ...value, services: imported.services };
  }
  return value;
}

function devcontainerPath(root: string, setting: unknown): string | undefined {
  if (setting === false) return undefined;
  if (typeof setting === 'string') {
    const path = inside(root, setting);
    if (!path)
      throw new UsageError('devcontainer-missing', `devcontainer: ${setting} is outside the repository`, {
        hint: 'name a devcontainer.json in the repository',
      });
    return path;
  }
  return DEVCONTAINER_FILES.find((file) => existsSync(join(root, file)));
}

function composeText(root: string, path: string, namedBy: string): string {
  const text = readRepoFile(root, path);
  if (text === undefined)
    throw new UsageError('compose-missing', `${namedBy}: ${path} does not exist in ${root}`, {
      hint: 'name a compose file in the repository',
    });
  return text;
}

/** A file of the repository by its relative path; undefined when absent; refused when a link leads out. */
function readRepoFile(root: string, path: string): string | undefined {
  const full = join(root, path);
  if (!existsSync(full)) return undefined;
  if (!inside(realpathSync(root), realpathSync(full)))
    throw new UsageError(
      'repo-file-outside',
      `${path} leads (through a link) outside the repository's files in ${root} (or into its git folder)`,
      {
        hint: 'berth reads only the repository`s own files: copy the file into it',
      },
    );
  // A folder, a FIFO or a device is no file to read (a FIFO would block for good).
  if (!statSync(full).isFile())
    throw new UsageError('repo-file-not-file', `${path} in ${root} is not a regular file`, {
      hint: 'name a file',
    });
  return readFileSync(full, 'utf8');
}

/** `path` (absolute, or relative to root) as a path relative to root, when it is inside it. */
function inside(root: string, path: string): string | undefined {
  const rest = relative(root, isAbsolute(path) ? path : join(root, path));
  if (rest === '' || rest === '..' || rest.startsWith(`..${sep}`) || isAbsolute(rest)) return undefined;
  const slashed = rest.split(sep).join('/');
  return inGitFolder(slashed) ? undefined : slashed;
}

/** `over` on top of `base`: maps merge key by key, anything else `over` gives wins. */
function mergeUnder(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const under = result[key];
    result[key] = isMap(under) && isMap(value) ? mergeUnder(under, value) : value;
  }
  return result;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.length ? issue.path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const prefix = issue.path.length ? `${path}.` : '';
    return `${issue.keys.map((key) => `${prefix}${key}`).join(', ')}: unknown field`;
  }
  return `${path}: ${keyMessage(issue)}`;
}
