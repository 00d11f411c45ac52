import { execa } from 'execa';

export const BIN = new URL('../../dist/berth.mjs', import.meta.url).pathname;

/** Runs the built `berth` binary as a user would, never throwing on a non-zero exit. */
export async function berth(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}) {
  const result = await execa('node', [BIN, ...args], {
    reject: false,
    env: options.env,
    cwd: options.cwd,
    stdin: 'ignore',
  });
  return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) };
}
