import getPort, { portNumbers } from 'get-port';
import { UsageError } from '../errors.js';
import type { PortRange } from '../plan/allocate.js';

/**
 * `count` host ports from the range that are neither taken (leased, or published by a container) nor in
 * use on 127.0.0.1 right now (get-port's bind probe, which also never hands one port out twice within
 * this process).
 */
export async function freePorts(
  count: number,
  range: PortRange,
  taken: ReadonlySet<number>,
): Promise<number[]> {
  const picked: number[] = [];
  while (picked.length < count) {
    const port = await getPort({
      port: portNumbers(range.low, range.high),
      exclude: [...taken, ...picked],
      host: '127.0.0.1',
    });
    // get-port falls back to any free port when none in the range is: that is "none left" here.
    if (port < range.low || port > range.high) {
      throw new UsageError('no-free-port', `no free port in ${range.low}-${range.high}`, {
        hint: 'tear down agents you no longer need, or widen ports.range in berth.yaml',
        exitCode: 1,
      });
    }
    picked.push(port);
  }
  return picked;
}
