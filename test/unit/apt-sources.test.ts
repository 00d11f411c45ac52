import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isDebianLike, parseOsRelease } from '../../src/adapters/apt.js';
import { DEFAULT_DEBIAN_MIRROR, debianMirror, parseAptSources } from '../../src/adapters/debootstrap.js';

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function aptDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-apt-test-'));
  made.push(dir);
  mkdirSync(join(dir, 'sources.list.d'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('the Debian mirror for debootstrap', () => {
  it('is read from deb822 sources, skipping the security archive', () => {
    const dir = aptDir({
      'sources.list.d/debian.sources': [
        'Types: deb',
        'URIs: http://mirror.example/debian-security',
        'Suites: bookworm-security',
        '',
        'Types: deb',
        'URIs: http://mirror.example/debian/',
        'Suites: bookworm bookworm-updates',
      ].join('\n'),
    });
    expect(debianMirror(dir)).toBe('http://mirror.example/debian');
  });

  it('is read from one-line sources with options', () => {
    const dir = aptDir({
      'sources.list': '# comment\ndeb [arch=amd64] https://deb.example.org/debian bookworm main\n',
    });
    expect(debianMirror(dir)).toBe('https://deb.example.org/debian');
  });

  it('falls back to deb.debian.org when the host is not Debian (an Ubuntu archive will not do)', () => {
    const dir = aptDir({ 'sources.list': 'deb http://archive.ubuntu.com/ubuntu noble main\n' });
    expect(debianMirror(dir)).toBe(DEFAULT_DEBIAN_MIRROR);
  });

  it('ignores source-only and disabled stanzas', () => {
    const text = 'Types: deb-src\nURIs: http://a/debian\n\nTypes: deb\nEnabled: no\nURIs: http://b/debian\n';
    expect(parseAptSources(text)).toEqual([]);
  });
});

describe('os-release', () => {
  it('recognises Debian, Ubuntu and their derivatives', () => {
    expect(isDebianLike(parseOsRelease('ID=debian\nVERSION_ID="12"\n'))).toBe(true);
    expect(isDebianLike(parseOsRelease('ID=pop\nID_LIKE="ubuntu debian"\n'))).toBe(true);
    expect(isDebianLike(parseOsRelease('ID="fedora"\n'))).toBe(false);
    expect(isDebianLike({})).toBe(false);
  });
});
