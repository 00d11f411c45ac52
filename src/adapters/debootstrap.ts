import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EnvironmentError } from '../errors.js';
import { findExecutable, run } from './programs.js';

export const DEFAULT_DEBIAN_MIRROR = 'http://deb.debian.org/debian';

/**
 * The Debian mirror this host's apt already uses (it is reachable and trusted here), else the default.
 * Security and updates archives are skipped: debootstrap needs the main archive.
 */
export function debianMirror(aptDir = '/etc/apt'): string {
  for (const uri of aptSourceUris(aptDir)) {
    if (/security|updates|backports/.test(uri)) continue;
    if (/\/debian\/?$/.test(uri)) return uri.replace(/\/$/, '');
  }
  return DEFAULT_DEBIAN_MIRROR;
}

/** URIs of the `deb` entries in apt's sources, in both the one-line and the deb822 format. */
export function aptSourceUris(aptDir: string): string[] {
  const files: string[] = [];
  if (existsSync(join(aptDir, 'sources.list'))) files.push(join(aptDir, 'sources.list'));
  const partsDir = join(aptDir, 'sources.list.d');
  if (existsSync(partsDir)) {
    for (const name of readdirSync(partsDir).sort()) {
      if (name.endsWith('.list') || name.endsWith('.sources')) files.push(join(partsDir, name));
    }
  }
  return files.flatMap((file) => parseAptSources(readFileSync(file, 'utf8')));
}

export function parseAptSources(text: string): string[] {
  const uris: string[] = [];
  // deb822 stanzas are separated by blank lines; a stanza without "Types: deb" is skipped.
  for (const stanza of text.split(/\n\s*\n/)) {
    const types = /^Types:\s*(.+)$/im.exec(stanza)?.[1]?.split(/\s+/);
    const enabled = !/^Enabled:\s*no\s*$/im.test(stanza);
    const found = /^URIs:\s*(.+)$/im.exec(stanza)?.[1];
    if (types?.includes('deb') && enabled && found) uris.push(...found.trim().split(/\s+/));
  }
  for (const line of text.split('\n')) {
    const match = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(line);
    if (match?.[1]) uris.push(match[1]);
  }
  return uris;
}

/** Builds a minimal Debian root file system into `target` (which must not exist yet). */
export function findDebootstrap(): string | undefined {
  return findExecutable('debootstrap', ['/usr/sbin', '/sbin']);
}

export async function debootstrap(
  suite: string,
  target: string,
  mirror: string,
  logFile: string,
): Promise<void> {
  const binary = findDebootstrap();
  if (!binary) {
    throw new EnvironmentError('debootstrap-missing', 'debootstrap is needed to build offline images', {
      hint: 'run berth host init --install as root, or apt-get install debootstrap',
    });
  }
  const args = ['--variant=minbase', '--include=ca-certificates', suite, target, mirror];
  const result = await run(binary, args, { logFile });
  if (result.exitCode !== 0) {
    throw new EnvironmentError('debootstrap-failed', `debootstrap of Debian ${suite} from ${mirror} failed`, {
      hint: 'check the mirror is reachable from this host (see the log)',
      logFile,
    });
  }
}
