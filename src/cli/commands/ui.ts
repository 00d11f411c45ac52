import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { printResult } from '../output.js';
import { type CliContext, interruptible, wholeNumber, withJson } from './_shared.js';

interface Options {
  json?: boolean;
  repo?: string[];
  all?: boolean;
  port?: string;
  open?: boolean;
  queue?: string;
}

export function registerUi(program: Command, { io }: CliContext): void {
  withJson(program.command('ui'))
    .description('a live web page of the agents, on 127.0.0.1 with a token in its URL (Ctrl-C ends it)')
    .option(
      '--repo <dir>',
      'a repository to show; repeat for more (default: the one around the current directory)',
      (dir: string, dirs: string[] = []) => [...dirs, dir],
    )
    .option('--all', 'every repository with agents on this host, found again as agents come')
    .option('--port <port>', 'the port on 127.0.0.1 (default: a free one)')
    .option('--queue <url>', 'the fleet`s queue URL: adds a fleet tab (default: $BERTH_QUEUE_URL)')
    .option('--open', 'open the page in the desktop`s browser')
    .action(async (options: Options) => {
      if (options.all && options.repo) {
        throw new UsageError('repo-and-all', '--repo and --all cannot be used together', {
          hint: 'berth ui --all shows every repository with agents on this host',
        });
      }
      const port = wholeNumber(options.port, '--port', 1);
      if (port !== undefined && port > 65_535) {
        throw new UsageError('bad-number', `--port takes a port up to 65535, not "${options.port}"`, {
          hint: 'leave --port out for a free one',
        });
      }
      const { startUi } = await import('../../ui/serve.js');
      await interruptible(async (signal) => {
        const ui = await startUi({
          repos: options.all ? 'all' : (options.repo ?? [process.cwd()]),
          queue: options.queue ?? process.env.BERTH_QUEUE_URL,
          port,
          open: options.open,
          signal,
        });
        if (options.json) printResult(io, 'ui', { url: ui.url, port: ui.port });
        else io.stdout(`berth ui: serving on 127.0.0.1 only; open\n  ${ui.url}\n(Ctrl-C ends it)\n`);
        await ui.closed;
      });
    });
}
