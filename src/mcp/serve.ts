import { openRepo } from '../core/context.js';
import { berthVersion } from '../package-root.js';
import { berthMcpServer } from './server.js';
import { StdioLineTransport } from './transport.js';

/**
 * Serves the MCP tools on stdin and stdout until the client goes; nothing else may write to stdout.
 * When it goes (stdin ends, or SIGTERM or SIGINT comes, as MCP clients send before SIGKILL), the calls
 * still running are aborted (an exec's command stops, a provision rolls back), and this returns only
 * once they have.
 */
export async function serveMcp(options: { repo?: string; showSecrets: boolean }): Promise<void> {
  const context = await openRepo({ repo: options.repo }, { engine: false });
  const version = berthVersion();
  const log = (line: string) => process.stderr.write(`berth: ${line}\n`);
  const { server, settled } = berthMcpServer({
    repo: context.root,
    showSecrets: options.showSecrets,
    version,
  });
  const transport = new StdioLineTransport({ log });
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
  });
  server.server.onerror = (error) => log(`mcp: ${error.message}`);
  const stop = () => void transport.close();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    await server.connect(transport);
    await closed;
    await settled();
    await server.close();
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
