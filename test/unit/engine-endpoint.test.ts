import { describe, expect, it } from 'vitest';
import { describeEndpoint, engineEndpoint } from '../../src/adapters/docker.js';

describe('the engine endpoint', () => {
  it('is the default socket without DOCKER_HOST', () => {
    expect(engineEndpoint({})).toEqual({ kind: 'unix', path: '/var/run/docker.sock' });
  });

  it('follows DOCKER_HOST for sockets and tcp', () => {
    expect(engineEndpoint({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock' })).toEqual({
      kind: 'unix',
      path: '/run/user/1000/docker.sock',
    });
    const tcp = engineEndpoint({ DOCKER_HOST: 'tcp://127.0.0.1:2375' });
    expect(describeEndpoint(tcp)).toBe('tcp://127.0.0.1:2375');
  });
});
