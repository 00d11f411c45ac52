import { describe, expect, it } from 'vitest';
import {
  berthInstallsFromHistory,
  EMPTY_INSTALL_RECORD,
  imageVerdict,
  planUninstall,
  recordInstall,
  type UninstallFacts,
} from '../../src/plan/uninstall.js';

// Entries as apt writes them in /var/log/apt/history.log (copied from a host berth set up).
const HISTORY = `Start-Date: 2026-05-20  16:49:20
Commandline: apt-get install -y nodejs
Install: nodejs:amd64 (20.20.2-1nodesource1)
End-Date: 2026-05-20  16:49:25

Start-Date: 2026-11-26  12:22:16
Commandline: apt-get install -y -q docker.io docker-compose
Install: libnetfilter-conntrack3:amd64 (1.0.9-3, automatic), docker-compose:amd64 (1.29.2-3), iptables:amd64 (1.8.9-2, automatic), docker.io:amd64 (20.10.24+dfsg1-1+deb12u1+b2)
Upgrade: libc6:amd64 (2.36-9, 2.36-9+deb12u1)
End-Date: 2026-11-26  12:22:44

Start-Date: 2026-11-26  12:22:46
Commandline: apt-get install -y -q debootstrap
Install: arch-test:amd64 (0.20-1, automatic), debootstrap:amd64 (1.0.128+nmu2+deb12u2)
End-Date: 2026-11-26  12:22:49

Start-Date: 2026-11-26  12:25:18
Commandline: apt-get install -y -qq --no-install-recommends chromium firefox-esr fonts-dejavu-core
Install: chromium:amd64 (1.0), firefox-esr:amd64 (2.0)
End-Date: 2026-11-26  12:25:40
`;

describe("apt's history as evidence of what berth installed", () => {
  it('takes the packages newly installed by berth`s own command lines only', () => {
    const names = berthInstallsFromHistory(HISTORY).map((p) => p.name);
    expect(names.sort()).toEqual(
      [
        'arch-test',
        'debootstrap',
        'docker-compose',
        'docker.io',
        'iptables',
        'libnetfilter-conntrack3',
      ].sort(),
    );
  });

  it('never counts an upgrade (the package was there before) or another command`s installs', () => {
    const names = berthInstallsFromHistory(HISTORY).map((p) => p.name);
    expect(names).not.toContain('libc6');
    expect(names).not.toContain('nodejs');
    expect(names).not.toContain('chromium');
  });

  it('drops a package removed since: whoever installs it again owns it', () => {
    const later = `${HISTORY}
Start-Date: 2026-11-27  09:00:00
Commandline: apt-get purge debootstrap
Purge: debootstrap:amd64 (1.0.128+nmu2+deb12u2)
End-Date: 2026-11-27  09:00:02

Start-Date: 2026-11-27  09:01:00
Commandline: apt-get install debootstrap
Install: debootstrap:amd64 (1.0.128+nmu2+deb12u2)
End-Date: 2026-11-27  09:01:02
`;
    expect(berthInstallsFromHistory(later).map((p) => p.name)).not.toContain('debootstrap');
  });

  it('does not take a look-alike command that asks for other packages too', () => {
    const text = `Start-Date: 2026-01-01  00:00:00
Commandline: apt-get install -y -q docker.io vim
Install: docker.io:amd64 (1), vim:amd64 (2)
End-Date: 2026-01-01  00:00:01
`;
    expect(berthInstallsFromHistory(text)).toEqual([]);
  });
});

describe('the install record', () => {
  it('records only what was not installed before, once', () => {
    const first = recordInstall(
      EMPTY_INSTALL_RECORD,
      new Set(['git']),
      new Set(['git', 'docker.io', 'runc']),
      't1',
    );
    expect(first.packages).toEqual([
      { name: 'docker.io', at: 't1' },
      { name: 'runc', at: 't1' },
    ]);
    const again = recordInstall(
      first,
      new Set(['git', 'docker.io', 'runc']),
      new Set(['git', 'docker.io', 'runc', 'debootstrap']),
      't2',
    );
    expect(again.packages.map((p) => p.name)).toEqual(['docker.io', 'runc', 'debootstrap']);
  });
});

const facts = (over: Partial<UninstallFacts> = {}): UninstallFacts => ({
  agents: [],
  force: false,
  engine: false,
  record: EMPTY_INSTALL_RECORD,
  historyPackages: [],
  installed: new Set(),
  pluginInLog: false,
  ...over,
});

describe('planUninstall', () => {
  const agent = { kind: 'agent' as const, name: 'a1', repo: '/r' };

  it('refuses while agents exist, and tears them down with --force', () => {
    expect(planUninstall(facts({ agents: [agent] }))).toMatchObject({ refusedFor: [agent], teardown: [] });
    expect(planUninstall(facts({ agents: [agent], force: true }))).toMatchObject({
      refusedFor: [],
      teardown: [agent],
    });
  });

  it('removes packages only with --engine, only berth`s, only those installed still', () => {
    const record = {
      version: 1 as const,
      packages: [
        { name: 'docker.io', at: 't' },
        { name: 'gone', at: 't' },
      ],
    };
    const installed = new Set(['docker.io', 'git', 'debootstrap']);
    expect(planUninstall(facts({ record, installed })).packages).toEqual([]);
    const history = [{ name: 'debootstrap', at: 'h' }];
    expect(
      planUninstall(facts({ record, installed, engine: true, historyPackages: history })).packages,
    ).toEqual(['debootstrap', 'docker.io']);
  });

  it('removes the Compose plugin when berth recorded it, or (no record) its install log names the package', () => {
    const pluginFile = '/usr/local/lib/docker/cli-plugins/docker-compose';
    const recorded = { version: 1 as const, packages: [], composePlugin: { path: pluginFile, at: 't' } };
    expect(planUninstall(facts({ pluginFile, record: recorded })).plugin).toBe(pluginFile);
    expect(planUninstall(facts({ pluginFile, pluginInLog: true })).plugin).toBe(pluginFile);
    expect(planUninstall(facts({ pluginFile })).plugin).toBeUndefined();
    expect(planUninstall(facts({ pluginInLog: true })).plugin).toBeUndefined();
  });
});

describe('which images are berth`s', () => {
  const labels = ['dev.berth.image', 'dev.berth.managed'];
  it('takes images tagged in berth`s repositories, and untagged ones with berth`s labels', () => {
    expect(imageVerdict({ tags: ['berth-offline/debian:bookworm'], labels: {} }, labels)).toBe('berth');
    expect(
      imageVerdict({ tags: ['berth/pg-template:x'], labels: { 'dev.berth.managed': 'true' } }, labels),
    ).toBe('berth');
    expect(imageVerdict({ tags: [], labels: { 'dev.berth.image': 'agent' } }, labels)).toBe('berth');
    // An agent image built from agent.build (or a devcontainer's build): its own repository.
    expect(
      imageVerdict(
        { tags: ['berth-build/agent:2a85a9aba89074a7'], labels: { 'dev.berth.image': 'agent-build' } },
        labels,
      ),
    ).toBe('berth');
  });

  it('leaves someone`s image built on berth`s (it inherits the labels), and everything else', () => {
    expect(imageVerdict({ tags: ['mine/app:1'], labels: { 'dev.berth.image': 'agent' } }, labels)).toBe(
      'foreign',
    );
    expect(imageVerdict({ tags: ['berth/x:1', 'mine/x:1'], labels: {} }, labels)).toBe('foreign');
    expect(imageVerdict({ tags: ['redis:7'], labels: {} }, labels)).toBe('unrelated');
    expect(imageVerdict({ tags: [], labels: {} }, labels)).toBe('unrelated');
  });
});
