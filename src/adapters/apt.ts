import { readFileSync } from 'node:fs';
import { EnvironmentError } from '../errors.js';
import { findExecutable, isRoot, run } from './process.js';

/** True on Debian, Ubuntu and their derivatives, where berth can install what it needs with apt. */
export function isDebianLike(osRelease = readOsRelease()): boolean {
  const ids = `${osRelease.ID ?? ''} ${osRelease.ID_LIKE ?? ''}`.split(/\s+/);
  return ids.includes('debian') || ids.includes('ubuntu');
}

export function readOsRelease(path = '/etc/os-release'): Record<string, string> {
  try {
    return parseOsRelease(readFileSync(path, 'utf8'));
  } catch {
    return {};
  }
}

export function parseOsRelease(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match?.[1]) fields[match[1]] = (match[2] ?? '').replace(/^"(.*)"$/, '$1');
  }
  return fields;
}

export function installCommand(packages: readonly string[]): string {
  return `apt-get update && apt-get install -y ${packages.join(' ')}`;
}

/** Installs OS packages with apt-get, as root on a Debian-like host. */
export async function aptInstall(packages: readonly string[], logFile: string): Promise<void> {
  if (!isRoot() || !isDebianLike() || !findExecutable('apt-get')) {
    throw new EnvironmentError('install-unsupported', `cannot install ${packages.join(', ')} on this host`, {
      hint: `--install works as root on Debian or Ubuntu; otherwise install them yourself (${installCommand(packages)})`,
    });
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = await run('apt-get', ['update', '-q'], { env, logFile });
  const install =
    update.exitCode === 0
      ? await run('apt-get', ['install', '-y', '-q', ...packages], { env, logFile })
      : update;
  if (install.exitCode !== 0) {
    throw new EnvironmentError('install-failed', `apt-get could not install ${packages.join(', ')}`, {
      hint: `see the log, then retry: ${installCommand(packages)}`,
      logFile,
    });
  }
}
