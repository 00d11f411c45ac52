import { join } from 'node:path';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { readText } from '../adapters/files.js';
import { openRepo } from '../core/context.js';
import { packageRoot } from '../package-root.js';
import { berthMcpServer } from './server.js';

/** Serves the MCP tools on stdin and stdout until the client goes; nothing else may write to stdout. */
export async function serveMcp(options: { repo?: string; showSecrets: boolean }): Promise<void> {
  const context = await openRepo({ repo: options.repo }, { engine: false });
  const manifest = readText(join(packageRoot(), 'package.json')) ?? '{}';
  const { version } = JSON.parse(manifest) as { version: string };
  const server = berthMcpServer({ repo: context.root, showSecrets: options.showSecrets, version });
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.on('end', () => resolve());
  });
  await server.connect(transport);
  await closed;
  await server.close();
}
