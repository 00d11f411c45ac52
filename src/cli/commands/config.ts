import type { Command } from 'commander';
import { printJson } from '../output.js';
import type { CliContext } from './_shared.js';

export function registerConfig(program: Command, { io }: CliContext): void {
  const config = program.command('config').description('the berth.yaml config file');
  config
    .command('schema')
    .description('print the JSON schema of berth.yaml, for editors')
    .action(async () => {
      const { jsonSchema } = await import('../../config/schema.js');
      printJson(io, jsonSchema());
    });
}
