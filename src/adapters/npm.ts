import { renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EnvironmentError } from '../errors.js';
import { run } from './programs.js';

/** Downloads a package's tarball from the npm registry the host's npm is configured for. */
export async function packFromNpm(spec: string, destination: string): Promise<void> {
  const dir = dirname(destination);
  const result = await run('npm', ['pack', spec, '--json', '--pack-destination', dir]);
  const filename = result.exitCode === 0 ? parsePackOutput(result.stdout) : undefined;
  if (!filename) {
    throw new EnvironmentError('npm-pack-failed', `could not fetch ${spec} from the npm registry`, {
      hint: `check that \`npm pack ${spec}\` works on this host (${result.stderr.split('\n').at(-1) ?? ''})`,
    });
  }
  renameSync(join(dir, filename), destination);
}

function parsePackOutput(stdout: string): string | undefined {
  try {
    const parsed = JSON.parse(stdout) as Array<{ filename?: string }>;
    return parsed[0]?.filename;
  } catch {
    return undefined;
  }
}
