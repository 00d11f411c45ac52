import type { Command } from 'commander';
import type { CliContext } from './_shared.js';

export function registerMcp(program: Command, _context: CliContext): void {
  program
    .command('mcp')
    .description('serve berth`s operations to MCP clients over stdio, for one repository')
    .option('--repo <dir>', 'the repository it acts on (default: the one around the current directory)')
    .option('--show-secrets', 'passwords in the URLs it returns')
    .action(async (options: { repo?: string; showSecrets?: boolean }) => {
      const { serveMcp } = await import('../../mcp/serve.js');
      await serveMcp({ repo: options.repo, showSecrets: options.showSecrets ?? false });
    });
}
