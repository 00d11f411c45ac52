#!/usr/bin/env node
import { runCli } from './main.js';

// A reader that stops reading (`berth ls | head`) is not berth's failure: it ends quietly, as cat does.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

process.exitCode = await runCli(process.argv.slice(2));
