import { execFileSync } from 'node:child_process';
import {
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConfinedPathError,
  listConfined,
  readConfined,
  writeConfined,
} from '../../src/adapters/confined-files.js';

let dir: string;
let root: string;
let outside: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-confined-'));
  root = join(dir, 'worktree');
  outside = join(dir, 'outside');
  mkdirSync(join(root, 'src'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(root, 'src', 'a.txt'), 'inside');
  writeFileSync(join(outside, 'secret'), 'outside');
  symlinkSync(join(outside, 'secret'), join(root, 'out-link'));
  symlinkSync('src/a.txt', join(root, 'in-link'));
  symlinkSync(outside, join(root, 'out-folder'));
  symlinkSync('src', join(root, 'in-folder'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const refusal = (work: () => unknown) => {
  try {
    work();
  } catch (error) {
    if (error instanceof ConfinedPathError) return `${error.refusal} ${error.names.join('/')}`;
    throw error;
  }
  throw new Error('not refused');
};

describe('files inside a folder an agent writes to (adapters/confined-files)', () => {
  it('reads and lists what is inside, symlinks shown as such', () => {
    expect(readConfined(root, ['src', 'a.txt'], 100).toString()).toBe('inside');
    expect(listConfined(root, [])).toEqual([
      { name: 'in-folder', type: 'symlink', size: 0 },
      { name: 'in-link', type: 'symlink', size: 0 },
      { name: 'out-folder', type: 'symlink', size: 0 },
      { name: 'out-link', type: 'symlink', size: 0 },
      { name: 'src', type: 'folder', size: 0 },
    ]);
    expect(listConfined(root, ['src'])).toEqual([{ name: 'a.txt', type: 'file', size: 6 }]);
  });

  it('follows no symlink: at the end, on the way, pointing out or in', () => {
    expect(refusal(() => readConfined(root, ['out-link'], 100))).toBe('symlink out-link');
    expect(refusal(() => readConfined(root, ['in-link'], 100))).toBe('symlink in-link');
    expect(refusal(() => readConfined(root, ['out-folder', 'secret'], 100))).toBe('symlink out-folder');
    expect(refusal(() => listConfined(root, ['out-folder']))).toBe('symlink out-folder');
    expect(refusal(() => listConfined(root, ['in-folder']))).toBe('symlink in-folder');
    expect(refusal(() => writeConfined(root, ['out-link'], Buffer.from('x')))).toBe('symlink out-link');
    expect(refusal(() => writeConfined(root, ['out-folder', 'new'], Buffer.from('x')))).toBe(
      'symlink out-folder',
    );
    expect(refusal(() => writeConfined(root, ['out-folder', 'deep', 'new'], Buffer.from('x')))).toBe(
      'symlink out-folder',
    );
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('outside');
    expect(listConfined(outside, []).map((e) => e.name)).toEqual(['secret']);
  });

  it('refuses what is not a regular file or folder, a missing file, a file too large', () => {
    execFileSync('mkfifo', [join(root, 'fifo')]);
    expect(refusal(() => readConfined(root, ['fifo'], 100))).toBe('not-a-file fifo');
    expect(refusal(() => writeConfined(root, ['fifo'], Buffer.from('x')))).toBe('not-a-file fifo');
    expect(refusal(() => readConfined(root, ['src'], 100))).toBe('not-a-file src');
    expect(refusal(() => readConfined(root, ['src', 'a.txt', 'x'], 100))).toBe('not-a-folder src/a.txt');
    expect(refusal(() => readConfined(root, ['nope'], 100))).toBe('missing nope');
    expect(refusal(() => listConfined(root, ['nope']))).toBe('missing nope');
    expect(refusal(() => readConfined(root, ['src', 'a.txt'], 3))).toBe('too-large src/a.txt');
  });

  it('writes files and their folders inside, replacing content, keeping a file`s mode', () => {
    expect(writeConfined(root, ['new', 'deep', 'f.txt'], Buffer.from('one'))).toEqual({ created: true });
    expect(readFileSync(join(root, 'new', 'deep', 'f.txt'), 'utf8')).toBe('one');
    writeFileSync(join(root, 'run.sh'), 'old content, longer', { mode: 0o755 });
    expect(writeConfined(root, ['run.sh'], Buffer.from('new'))).toEqual({ created: false });
    expect(readFileSync(join(root, 'run.sh'), 'utf8')).toBe('new');
    expect(statSync(join(root, 'run.sh')).mode & 0o777).toBe(0o755);
  });

  it('refuses to write a file with other hard links (it would change a file elsewhere)', () => {
    linkSync(join(outside, 'secret'), join(root, 'hard'));
    expect(refusal(() => writeConfined(root, ['hard'], Buffer.from('x')))).toBe('hard-linked hard');
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('outside');
  });

  it.runIf(process.getuid?.() === 0)('gives what it makes to the owner, as root', () => {
    writeConfined(root, ['made', 'f.txt'], Buffer.from('x'), { uid: 4242, gid: 4343 });
    for (const path of [join(root, 'made'), join(root, 'made', 'f.txt')]) {
      expect(statSync(path).uid).toBe(4242);
      expect(statSync(path).gid).toBe(4343);
    }
    // An existing file keeps its owner.
    writeConfined(root, ['src', 'a.txt'], Buffer.from('y'), { uid: 4242, gid: 4343 });
    expect(statSync(join(root, 'src', 'a.txt')).uid).toBe(0);
  });
});
