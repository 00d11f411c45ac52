/** Where this OS offers Compose v2, from its os-release fields. */
export type ComposeV2Source =
  | { kind: 'apt'; packages: string[] }
  /** Debian 12 has only v1; Debian 13's `docker-compose` is v2 and its binary needs only libc. */
  | { kind: 'download'; suite: string; package: string; plugin: string }
  | { kind: 'none'; reason: string };

export const COMPOSE_PLUGIN_DIR = '/usr/local/lib/docker/cli-plugins';

/** Where berth installs Compose v2 as a Docker CLI plugin (Debian 12). */
export function composePluginFile(): string {
  return `${COMPOSE_PLUGIN_DIR}/docker-compose`;
}

export function composeV2Source(os: Record<string, string>): ComposeV2Source {
  const ids = `${os.ID ?? ''} ${os.ID_LIKE ?? ''}`.split(/\s+/);
  if (ids.includes('ubuntu')) return { kind: 'apt', packages: ['docker-compose-v2'] };
  if (os.ID === 'debian') {
    const major = Number.parseInt(os.VERSION_ID ?? '', 10);
    if (major >= 13) return { kind: 'apt', packages: ['docker-compose'] };
    if (major === 12) {
      return {
        kind: 'download',
        suite: 'trixie',
        package: 'docker-compose',
        plugin: 'usr/libexec/docker/cli-plugins/docker-compose',
      };
    }
  }
  return { kind: 'none', reason: `no known source of Compose v2 for ${os.PRETTY_NAME ?? 'this OS'}` };
}

export type ComposeVariant = 'v2' | 'v1';

/** BERTH_COMPOSE=v1|v2 picks one; unset prefers v2. */
export function composePreference(value: string | undefined): ComposeVariant | undefined | 'invalid' {
  if (value === undefined || value === '') return undefined;
  return value === 'v1' || value === 'v2' ? value : 'invalid';
}
