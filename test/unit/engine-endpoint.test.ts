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

  it('refuses an ssh:// engine (or anything else) with a way to reach it through a socket', () => {
    expect(() => engineEndpoint({ DOCKER_HOST: 'ssh://me@build-host' })).toThrow(
      /DOCKER_HOST=ssh:\/\/me@build-host is not an engine address berth can use/,
    );
    expect(() => engineEndpoint({ DOCKER_HOST: 'ssh://me@build-host' })).toThrow(
      expect.objectContaining({ hint: expect.stringContaining('unix:///tmp/docker.sock') }),
    );
  });
});
