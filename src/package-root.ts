import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The name berth is published under on npm (the command stays `berth`). */
export const PACKAGE_NAME = '@berth-dev/berth';

/** berth's version, as its package.json says. */
export function berthVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string })
    .version;
}

/** berth's own folder (where package.json and templates/ are), from wherever this module was built to. */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === PACKAGE_NAME) return dir;
  }
  throw new Error(`berth's package.json was not found above ${from}`);
}
