import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { overlaps } from '../../src/plan/allocate.js';
import { docker, TEST_LABEL, TEST_SCOPE } from './docker.js';
import { imageFor } from './images.js';

/**
 * "The internet" for egress tests, all on this machine: containers the test starts on networks it
 * makes, reached by names no public resolver knows (`*.test`). One network is in a documentation range
 * (TEST-NET-3: the proxy refuses none of it), another in a private range (a listed name resolving
 * there must be refused). An agent's proxy is connected to both; the agent itself to neither.
 */
export interface Outside {
  /** The test CA's certificate (PEM): what the agent is told to trust. */
  caPem: string;
  /** Each host's address, by name (allowed.test, denied.test, tcp.test, private.test). */
  addresses: Record<string, string>;
  /** Gives an agent's proxy a way to the outside hosts (as the host's uplink would). */
  connectProxy: (containerId: string) => Promise<void>;
  cleanup: () => Promise<void>;
}

/** Answers with its name: HTTP on 80, HTTPS on 443 (the test CA's certificate), plain TCP on 2222. */
const SERVER = `
const fs = require('node:fs');
const name = process.env.NAME;
const answer = (req, res) => res.end('hello from ' + name + '\\n');
require('node:http').createServer(answer).listen(80);
const tls = { key: fs.readFileSync('/outside/server.key'), cert: fs.readFileSync('/outside/server.pem') };
require('node:https').createServer(tls, answer).listen(443);
require('node:net').createServer((socket) => socket.end('tcp hello from ' + name + '\\n')).listen(2222);
`;

const label = { [TEST_LABEL]: TEST_SCOPE };

async function freeSubnet(within: string, candidates: number): Promise<string> {
  const taken = (await docker().listNetworks()).flatMap((n) =>
    (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? '').filter(Boolean),
  );
  const [base = ''] = within.split('/');
  const octets = base.split('.').map(Number);
  for (let index = 0; index < candidates; index++) {
    const value = ((octets[2] ?? 0) << 8) + (octets[3] ?? 0) + index * 16;
    const cidr = `${octets[0]}.${octets[1]}.${value >> 8}.${value & 255}/28`;
    if (!taken.some((subnet) => overlaps(subnet, cidr))) return cidr;
  }
  throw new Error(`no free /28 in ${within}`);
}

async function openssl(dir: string, args: string[]) {
  await execa('openssl', args, { cwd: dir });
}

/** A CA, and a certificate it signed for the outside hosts. */
async function makeCertificates(dir: string, names: string[]) {
  await openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-subj',
    '/CN=berth egress test CA',
  ]);
  await openssl(dir, [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    `/CN=${names[0]}`,
  ]);
  writeFileSync(join(dir, 'san.ext'), `subjectAltName=${names.map((name) => `DNS:${name}`).join(',')}\n`);
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'san.ext',
  ]);
}

export async function startOutside(prefix: string): Promise<Outside> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-outside-'));
  const client = docker();
  const networks: string[] = [];
  const containers: string[] = [];
  const cleanup = async () => {
    for (const id of containers)
      await client
        .getContainer(id)
        .remove({ force: true })
        .catch(() => {});
    for (const id of networks)
      await client
        .getNetwork(id)
        .remove()
        .catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await makeCertificates(dir, ['allowed.test', 'denied.test']);
    writeFileSync(join(dir, 'server.js'), SERVER);
    const image = await imageFor('agent');
    const world = await client.createNetwork({
      Name: `${prefix}-outside`,
      Labels: label,
      IPAM: { Config: [{ Subnet: await freeSubnet('203.0.113.0/24', 16) }] },
    });
    networks.push(world.id);
    const inside = await client.createNetwork({
      Name: `${prefix}-private`,
      Labels: label,
      IPAM: { Config: [{ Subnet: await freeSubnet('10.231.0.0/20', 256) }] },
    });
    networks.push(inside.id);
    const addresses: Record<string, string> = {};
    const hosts: Array<[string, string]> = [
      ['allowed.test', world.id],
      ['denied.test', world.id],
      ['tcp.test', world.id],
      ['private.test', inside.id],
    ];
    for (const [name, network] of hosts) {
      const container = await client.createContainer({
        name: `${prefix}-${name.replace('.', '-')}`,
        Image: image,
        Cmd: ['node', '/outside/server.js'],
        Env: [`NAME=${name}`],
        Labels: label,
        HostConfig: {
          Mounts: [{ Type: 'bind', Source: dir, Target: '/outside', ReadOnly: true }],
          NetworkMode: network,
        },
        NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: [name] } } },
      });
      containers.push(container.id);
      await container.start();
      const info = await container.inspect();
      addresses[name] = Object.values(info.NetworkSettings.Networks)[0]?.IPAddress ?? '';
    }
    return {
      caPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
      addresses,
      connectProxy: async (containerId) => {
        for (const network of networks) await client.getNetwork(network).connect({ Container: containerId });
      },
      cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
