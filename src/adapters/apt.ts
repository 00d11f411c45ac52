import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { EnvironmentError } from '../errors.js';
import { ensureDir, exists, readTail, removeTree, writeFile } from './files.js';
import { findExecutable, inheritedEnv, isRoot, run } from './programs.js';

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
  const env = inheritedEnv({ DEBIAN_FRONTEND: 'noninteractive' });
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

/**
 * Downloads one package from another suite of the host's Debian mirror and unpacks it into `into`,
 * without installing it and without touching the host's apt sources or lists (a private list folder).
 */
export async function downloadAndUnpack(
  mirror: string,
  suite: string,
  packageName: string,
  into: string,
  logFile: string,
): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), 'berth-apt-'));
  try {
    const sources = join(scratch, 'sources.list');
    writeFile(
      sources,
      `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror} ${suite} main\n`,
    );
    const options = [
      ['Dir::Etc::SourceList', sources],
      ['Dir::Etc::SourceParts', '/dev/null'],
      ['Dir::State::Lists', join(scratch, 'lists')],
      ['Dir::Cache', join(scratch, 'cache')],
      // Fetching into a private folder as root: apt's sandbox user could not write there.
      ['APT::Sandbox::User', 'root'],
    ].flatMap(([key, value]) => ['-o', `${key}=${value}`]);
    for (const dir of ['lists/partial', 'cache/archives/partial']) writeFile(join(scratch, dir, '.keep'), '');
    const env = inheritedEnv({ DEBIAN_FRONTEND: 'noninteractive' });
    const update = await run('apt-get', [...options, 'update', '-q'], { env, logFile });
    const download =
      update.exitCode === 0
        ? await run('apt-get', [...options, 'download', '-q', `${packageName}/${suite}`], {
            env,
            logFile,
            cwd: scratch,
          })
        : update;
    const deb = readdirSync(scratch).find((name) => name.endsWith('.deb'));
    if (download.exitCode !== 0 || !deb) {
      throw new EnvironmentError('download-failed', `could not download ${packageName} from ${suite}`, {
        hint: `check that ${mirror} is reachable (see the log)`,
        logFile,
      });
    }
    // dpkg-deb makes no parent folders: on a fresh host not even berth's own folder exists yet.
    ensureDir(into);
    const unpack = await run('dpkg-deb', ['-x', join(scratch, deb), into], { logFile });
    if (unpack.exitCode !== 0) {
      throw new EnvironmentError('download-failed', `could not unpack ${deb}: ${lastLine(logFile)}`, {
        logFile,
      });
    }
  } finally {
    removeTree(scratch);
  }
}

/** The last line a program wrote to its log: its own words for what went wrong. */
function lastLine(logFile: string): string {
  if (!exists(logFile)) return 'no output';
  const lines = readTail(logFile, 4096)
    .text.split('\n')
    .filter((line) => line.trim());
  return lines.at(-1)?.trim() ?? 'no output';
}

/** The names of the OS packages installed now (dpkg's view); empty where there is no dpkg. */
export async function installedPackages(): Promise<Set<string>> {
  if (!findExecutable('dpkg-query')) return new Set();
  // dpkg-query's own ${field} syntax, not a template.
  const field = (name: string) => `$\{${name}}`;
  const format = [field('Package'), field('db:Status-Abbrev')].join('\t');
  const result = await run('dpkg-query', ['-W', '-f', `${format}\n`]);
  return new Set(
    result.stdout
      .split('\n')
      .map((line) => line.split('\t'))
      .filter(([, status]) => status?.startsWith('ii'))
      .map(([name]) => name as string),
  );
}

/** Whether an OS package owns a file (dpkg -S). */
export async function ownedByPackage(path: string): Promise<boolean> {
  if (!findExecutable('dpkg')) return false;
  return (await run('dpkg', ['-S', path])).exitCode === 0;
}

/** Removes OS packages and their configuration files with apt-get, as root. */
export async function purgePackages(packages: readonly string[], logFile: string): Promise<void> {
  const env = inheritedEnv({ DEBIAN_FRONTEND: 'noninteractive' });
  const purge = await run('apt-get', ['purge', '-y', '-q', ...packages], { env, logFile });
  if (purge.exitCode !== 0) {
    throw new EnvironmentError('uninstall-failed', `apt-get could not remove ${packages.join(', ')}`, {
      hint: `see the log, then retry: apt-get purge ${packages.join(' ')}`,
      logFile,
    });
  }
}

/** apt's history of what it installed and removed, oldest first (rotated logs included). */
export function readAptHistory(dir = '/var/log/apt'): string {
  const rotated = readdirSafe(dir)
    .map((name) => /^history\.log\.(\d+)(\.gz)?$/.exec(name))
    .filter((match): match is RegExpExecArray => match !== null)
    .sort((a, b) => Number(b[1]) - Number(a[1]));
  const parts = rotated.map((match) => {
    const bytes = readFileSync(join(dir, match[0]));
    return (match[2] ? gunzipSync(bytes) : bytes).toString('utf8');
  });
  if (exists(join(dir, 'history.log'))) parts.push(readFileSync(join(dir, 'history.log'), 'utf8'));
  return parts.join('\n\n');
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
