import { describe, expect, it } from 'vitest';
import {
  compareNames,
  composeProject,
  extraLabels,
  repoId,
  validateAgentName,
  worktreePath,
} from '../../src/plan/names.js';

describe('agent names', () => {
  it('sort in the order people count them: hk1, hk2, hk10', () => {
    expect(['hk10', 'hk2', 'b', 'hk1', 'a-2', 'a-10'].sort(compareNames)).toEqual([
      'a-2',
      'a-10',
      'b',
      'hk1',
      'hk2',
      'hk10',
    ]);
  });

  it.each(['a', 'fix-login', 'agent-07', `a${'b'.repeat(31)}`])('accepts %j', (name) => {
    expect(validateAgentName(name)).toBe(name);
  });

  it.each([
    '',
    `a${'b'.repeat(32)}`,
    'Upper',
    '../x',
    'a/b',
    'a;rm -rf ~',
    '$(id)',
    '-lead',
    '7up',
    'café',
    'a b',
    ' a',
    'a_b',
  ])('refuses %j with a hint and exit code 2', (name) => {
    try {
      validateAgentName(name);
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ code: 'bad-name', exitCode: 2 });
      expect((error as { hint: string }).hint).toMatch(/lowercase letters/);
    }
  });
});

describe('derived names', () => {
  it('gives a stable repository id from the git directory', () => {
    expect(repoId('/src/app/.git')).toBe(repoId('/src/app/.git/'));
    expect(repoId('/src/app/.git')).not.toBe(repoId('/src/other/.git'));
    expect(repoId('/src/app/.git')).toMatch(/^[0-9a-f]{10}$/);
  });

  it('makes compose project names unique per repository and agent', () => {
    expect(composeProject('0123456789', 'a')).toBe('berth-0123456789-a');
    expect(composeProject('0123456789', 'a-b')).not.toBe(composeProject('0123456789', 'a'));
  });

  it('puts worktrees beside the repository by default, or in the configured folder', () => {
    expect(worktreePath('/src/app', 'a')).toBe('/src/app.worktrees/a');
    expect(worktreePath('/src/app', 'a', 'agents')).toBe('/src/agents/a');
    expect(worktreePath('/src/app', 'a', '/var/agents')).toBe('/var/agents/a');
  });
});

describe('BERTH_LABELS', () => {
  it('parses key=value pairs', () => {
    expect(extraLabels('team=web,job.id=12')).toEqual({ team: 'web', 'job.id': '12' });
    expect(extraLabels(undefined)).toEqual({});
  });

  it("refuses malformed pairs and berth's own labels", () => {
    expect(() => extraLabels('novalue')).toThrow(/BERTH_LABELS has a bad entry/);
    expect(() => extraLabels('dev.berth.agent=x')).toThrow(/bad entry/);
  });
});
