import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { jsonSchema } from '../../src/config/schema.js';
import { CONTRACT_VERSION, envelopeSchema, resultSchemas, resultsJsonSchema } from '../../src/contract.js';

describe('the output contract', () => {
  it('is committed as a JSON schema generated from the same types (npm run schema)', () => {
    const committed = JSON.parse(readFileSync('templates/berth.results.schema.json', 'utf8'));
    expect(committed).toEqual(JSON.parse(JSON.stringify(resultsJsonSchema())));
    const config = JSON.parse(readFileSync('templates/berth.schema.json', 'utf8'));
    expect(config).toEqual(JSON.parse(JSON.stringify(jsonSchema())));
  });

  it('has an envelope for every command, and refuses a result that is not the command`s', () => {
    const ok = {
      contract: CONTRACT_VERSION,
      command: 'heartbeat',
      outcome: 'success',
      result: { name: 'a', leaseExpiresAt: 'x' },
    };
    expect(envelopeSchema('heartbeat').parse(ok)).toEqual(ok);
    expect(() => envelopeSchema('heartbeat').parse({ ...ok, result: { name: 'a' } })).toThrow();
    expect(() => envelopeSchema('heartbeat').parse({ ...ok, result: { ...ok.result, extra: 1 } })).toThrow();
    expect(() => envelopeSchema('ls').parse({ ...ok, command: 'ls' })).toThrow();
    expect(Object.keys(resultSchemas).length).toBeGreaterThan(15);
  });
});
