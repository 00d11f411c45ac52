import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { UsageError } from '../errors.js';
import { type BerthConfig, configSchema, crossFieldProblems } from './schema.js';
import { readYaml } from './yaml.js';

export const CONFIG_FILE = 'berth.yaml';

/** Reads berth.yaml (or `explicitPath`); without a file, the defaults. */
export function loadConfig(repoRoot: string, explicitPath?: string): BerthConfig {
  const path = explicitPath ?? join(repoRoot, CONFIG_FILE);
  if (!existsSync(path)) {
    if (explicitPath) {
      throw new UsageError('config-missing', `config file ${explicitPath} does not exist`, {
        hint: 'pass the path of a berth.yaml, or leave --config out to use the defaults',
      });
    }
    return configSchema.parse({});
  }
  return parseConfig(readFileSync(path, 'utf8'), path);
}

export function parseConfig(text: string, source = CONFIG_FILE): BerthConfig {
  const value = readYaml(text, source, 'config-yaml') ?? {};
  const result = configSchema.safeParse(value);
  if (!result.success) {
    const details = result.error.issues.flatMap(describeUnion).map(describeIssue);
    throw new UsageError('config-invalid', `${source} has ${details.length} bad field(s)`, {
      hint: 'fix the fields listed; the JSON schema in templates/berth.schema.json helps editors check them',
      details,
    });
  }
  const problems = crossFieldProblems(result.data);
  if (problems.length > 0) {
    throw new UsageError('config-invalid', `${source} has ${problems.length} bad field(s)`, {
      hint: 'fix the fields listed',
      details: problems,
    });
  }
  return result.data;
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

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.length ? issue.path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const prefix = issue.path.length ? `${path}.` : '';
    return `${issue.keys.map((key) => `${prefix}${key}`).join(', ')}: unknown field`;
  }
  return `${path}: ${keyMessage(issue)}`;
}
