import type { Command } from 'commander';
import { printResult } from '../output.js';
import { type CliContext, withJson } from './_shared.js';

export function registerConfig(program: Command, { io }: CliContext): void {
  const config = program.command('config').description('the berth.yaml config file');
  withJson(config.command('schema').description('print the JSON schema of berth.yaml, for editors')).action(
    async (options: { json?: boolean }) => {
      const { jsonSchema } = await import('../../config/schema.js');
      if (options.json) return printResult(io, 'config schema', { schema: jsonSchema() });
      io.stdout(`${JSON.stringify(jsonSchema(), null, 2)}\n`);
    },
  );
}
