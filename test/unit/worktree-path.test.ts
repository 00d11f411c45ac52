import { describe, expect, it } from 'vitest';
import { BerthError } from '../../src/errors.js';
import { shownPath, worktreePathNames } from '../../src/plan/worktree-path.js';

const refusal = (path: string, use: 'read' | 'write' | 'list' = 'read') => {
  try {
    worktreePathNames(path, use);
  } catch (error) {
    expect(error).toBeInstanceOf(BerthError);
    return (error as BerthError).message;
  }
  throw new Error(`${path} was accepted`);
};

describe('paths in an agent`s worktree (the file operations)', () => {
  it('takes relative paths, dropping . and empty parts', () => {
    expect(worktreePathNames('src/index.ts', 'read')).toEqual(['src', 'index.ts']);
    expect(worktreePathNames('./src//a/./b.txt', 'write')).toEqual(['src', 'a', 'b.txt']);
    expect(worktreePathNames('.', 'list')).toEqual([]);
    expect(worktreePathNames('', 'list')).toEqual([]);
    expect(worktreePathNames('...', 'read')).toEqual(['...']);
    expect(worktreePathNames('a..b/.gitignore', 'write')).toEqual(['a..b', '.gitignore']);
    expect(shownPath(['src', 'a'])).toBe('src/a');
    expect(shownPath([])).toBe('.');
  });

  it('refuses absolute paths, .., NUL and names too long, in one line', () => {
    expect(refusal('/etc/passwd')).toMatch(/^the path "\/etc\/passwd" is absolute/);
    expect(refusal('../outside')).toMatch(/climbs out with \.\./);
    expect(refusal('src/../../outside', 'write')).toMatch(/climbs out/);
    expect(refusal('src/..', 'list')).toMatch(/climbs out/);
    expect(refusal('a\0b')).toMatch(/NUL/);
    expect(refusal(`${'n'.repeat(256)}/x`)).toMatch(/over 255 bytes/);
    expect(refusal('x/'.repeat(2100))).toMatch(/over 4096 bytes/);
  });

  it('refuses a read or write of no file, and writes under .git', () => {
    expect(refusal('.', 'read')).toMatch(/names no file/);
    expect(refusal('', 'write')).toMatch(/names no file/);
    expect(refusal('.git', 'write')).toMatch(/under \.git/);
    expect(refusal('sub/.git/config', 'write')).toMatch(/under \.git/);
    expect(worktreePathNames('.git', 'read')).toEqual(['.git']);
  });
});
