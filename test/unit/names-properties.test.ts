import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { containerName } from '../../src/plan/engine-stack.js';
import {
  AGENT_NAME_PATTERN,
  branchName,
  composeProject,
  repoId,
  validateAgentName,
} from '../../src/plan/names.js';

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const TAIL = `${LETTERS}0123456789-`;
/** Every valid agent name: a lowercase letter, then up to 31 of lowercase letters, digits and hyphens. */
const agentName = fc
  .tuple(fc.constantFrom(...LETTERS), fc.array(fc.constantFrom(...TAIL), { maxLength: 31 }))
  .map(([first, rest]) => first + rest.join(''));
const repo = fc.string({ minLength: 1 }).map((path) => repoId(`/${path}/.git`));

// Docker: names of containers, networks and volumes; Compose: project names.
const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const COMPOSE_PROJECT = /^[a-z0-9][a-z0-9_-]*$/;

function gitAcceptsBranches(branches: string[]): boolean[] {
  return branches.map((branch) => {
    try {
      execFileSync('git', ['check-ref-format', '--branch', branch], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
}

describe('names derived from agent names', () => {
  it('accepts exactly the names that match the documented pattern', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (name) => {
        const valid = AGENT_NAME_PATTERN.test(name);
        if (valid) expect(validateAgentName(name)).toBe(name);
        else expect(() => validateAgentName(name)).toThrow(/invalid agent name/);
      }),
    );
  });

  it('gives Docker and Compose valid project, container, network and volume names', () => {
    fc.assert(
      fc.property(repo, agentName, (id, name) => {
        const project = composeProject(id, name);
        expect(project).toMatch(COMPOSE_PROJECT);
        for (const service of ['agent', 'postgres', 'redis']) {
          expect(containerName(project, service, 'v1')).toMatch(DOCKER_NAME);
          expect(containerName(project, service, 'v2')).toMatch(DOCKER_NAME);
        }
        expect(`${project}_private`).toMatch(DOCKER_NAME);
        expect(`${project}_pgdata`).toMatch(DOCKER_NAME);
      }),
    );
  });

  it('gives branch names git accepts', () => {
    const samples = fc.sample(agentName, 200);
    const branches = samples.map((name) => branchName('berth/', name));
    expect(gitAcceptsBranches(branches)).toEqual(branches.map(() => true));
  });

  it('never maps two distinct agents, in one repository or two, to the same names', () => {
    fc.assert(
      fc.property(repo, agentName, repo, agentName, (idA, a, idB, b) => {
        fc.pre(idA !== idB || a !== b);
        const projectA = composeProject(idA, a);
        const projectB = composeProject(idB, b);
        expect(projectA).not.toBe(projectB);
        for (const service of ['agent', 'postgres', 'redis']) {
          expect(containerName(projectA, service, 'v2')).not.toBe(containerName(projectB, service, 'v2'));
          expect(containerName(projectA, service, 'v1')).not.toBe(containerName(projectB, service, 'v1'));
        }
        if (idA === idB) expect(branchName('berth/', a)).not.toBe(branchName('berth/', b));
      }),
    );
  });
});
