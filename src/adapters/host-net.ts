import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

/** A route of this host: the subnet it covers and the interface it goes through. */
export interface HostRoute {
  subnet: string;
  iface: string;
}

/**
 * The IPv4 routes of this host, but the default one: a subnet berth gives an agent's network must
 * overlap none of them, or the host sends the stack's traffic elsewhere (to a bridge a dead engine
 * left behind, a VPN, another tool's network) and the stack runs but cannot be reached.
 */
export function hostRoutes(file = '/proc/net/route'): HostRoute[] {
  try {
    return parseRoutes(readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
}

/** /proc/net/route: hex, little-endian destination and mask per line. */
export function parseRoutes(text: string): HostRoute[] {
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 8 && fields[7] !== '00000000')
    .map((fields) => {
      const destination = littleEndianIp(fields[1] ?? '0');
      const prefix = bits(Number.parseInt(fields[7] ?? '0', 16));
      return { subnet: `${destination}/${prefix}`, iface: fields[0] ?? '' };
    });
}

function littleEndianIp(hex: string): string {
  const value = Number.parseInt(hex, 16);
  return [0, 8, 16, 24].map((shift) => (value >>> shift) & 255).join('.');
}

function bits(mask: number): number {
  let count = 0;
  for (let m = mask >>> 0; m; m >>>= 1) count += m & 1;
  return count;
}

/** This host's own IPv4 addresses but loopback, with their interfaces. */
export function hostAddresses(): Array<{ iface: string; address: string }> {
  return Object.entries(networkInterfaces()).flatMap(([iface, addresses]) =>
    (addresses ?? [])
      .filter((address) => address.family === 'IPv4' && !address.internal)
      .map((address) => ({ iface, address: address.address })),
  );
}
