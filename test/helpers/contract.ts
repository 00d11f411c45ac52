import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';

/**
 * berth's --json output checked as a consumer would check it: with Ajv (2020-12, with formats) against
 * the published schema, templates/berth.results.schema.json, never with the code's own types.
 */
export const RESULTS_SCHEMA_FILE = new URL('../../templates/berth.results.schema.json', import.meta.url)
  .pathname;

type Schema = { anyOf: Array<{ $ref: string }>; $defs: Record<string, Variant> };
type Variant = { properties?: { command?: { const?: string; not?: unknown }; outcome?: { const?: string } } };

let compiled: { all: ValidateFunction; variants: Map<string, ValidateFunction>; schema: Schema } | undefined;

function validators() {
  if (compiled) return compiled;
  const schema = JSON.parse(readFileSync(RESULTS_SCHEMA_FILE, 'utf8')) as Schema;
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  // ajv-formats is CommonJS: its plugin is the module itself.
  const plugin = formats as unknown as { default: (ajv: Ajv2020) => void };
  (plugin.default ?? (formats as unknown as (ajv: Ajv2020) => void))(ajv);
  ajv.addSchema(schema, 'results');
  const all = ajv.getSchema('results') as ValidateFunction;
  // Each variant on its own, by command and outcome: to say why an object fails, not only that it does.
  const variants = new Map<string, ValidateFunction>();
  for (const { $ref } of schema.anyOf) {
    const variant = schema.$defs[$ref.replace('#/$defs/', '')];
    const command = variant?.properties?.command?.const ?? '*';
    const outcome = variant?.properties?.outcome?.const ?? '';
    variants.set(`${command} ${outcome}`, ajv.compile({ $ref: `results${$ref}` }));
  }
  compiled = { all, variants, schema };
  return compiled;
}

/** The (command, outcome) pairs the published schema has a variant for: "ls success", "* error"… */
export function schemaVariants(): string[] {
  return [...validators().variants.keys()];
}

/** Every (command, outcome) an object of which was checked in this test file. */
export const checked = new Set<string>();

/** Checks one object berth printed; returns it, or throws saying which fields are wrong. */
export function checkEnvelope(value: unknown, where: string): Envelope {
  const { all, variants } = validators();
  const envelope = value as Envelope;
  if (!all(value)) {
    const key = `${envelope?.command} ${envelope?.outcome}`;
    const own = variants.get(key) ?? variants.get(`* ${envelope?.outcome}`);
    own?.(value);
    const errors = (own?.errors ?? all.errors ?? []) as ErrorObject[];
    const lines = errors.map((e) => `  ${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
    throw new Error(
      `${where}: its --json output does not validate against ${RESULTS_SCHEMA_FILE} (${key}):\n${lines.join('\n')}\n${JSON.stringify(value, null, 2).slice(0, 4000)}`,
    );
  }
  checked.add(`${envelope.command} ${envelope.outcome}`);
  return envelope;
}

export type Envelope =
  | { contract: number; command: string; outcome: 'success'; result: unknown }
  | {
      contract: number;
      command: string;
      outcome: 'error';
      error: { code: string; message: string; hint?: string; logFile?: string; details?: string[] };
    };

/** --json given to berth itself (not to an agent's command after `--`), and a stream asked for. */
export function jsonMode(args: string[]): { json: boolean; lines: boolean } {
  const end = args.indexOf('--');
  const own = args.slice(0, end === -1 ? undefined : end);
  return { json: own.includes('--json'), lines: own.includes('--watch') };
}

/**
 * The objects of a run's stdout: one (pretty-printed or not), or one per line for a watch. Throws when
 * stdout is not that, or when any object does not validate.
 */
export function checkJsonOutput(args: string[], stdout: string, exitCode: number): Envelope[] {
  const where = `berth ${args.join(' ')} (exit ${exitCode})`;
  const texts = jsonMode(args).lines ? stdout.split('\n').filter(Boolean) : [stdout];
  return texts.map((text) => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new Error(`${where}: not one JSON object${jsonMode(args).lines ? ' per line' : ''}:\n${stdout}`);
    }
    return checkEnvelope(value, where);
  });
}
