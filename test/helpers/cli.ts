import { execa } from 'execa';

export const BIN = new URL('../../dist/berth.mjs', import.meta.url).pathname;

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `berth` binary as a user would, never throwing on a non-zero exit. */
export async function berth(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; extendEnv?: boolean } = {},
): Promise<CliResult> {
  // The node that runs the tests, by path: a test may give berth a PATH without node on it.
  const result = await execa(process.execPath, [BIN, ...args], {
    reject: false,
    env: options.env,
    extendEnv: options.extendEnv ?? true,
    cwd: options.cwd,
    stdin: 'ignore',
  });
  return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/**
 * Every line berth wrote to stderr is progress (`berth: …`) or the one-line error with its hint and
 * detail lines: never a raw stack, a bare errno or an error without a hint.
 */
export function expectCleanStderr(stderr: string): string[] {
  const problems: string[] = [];
  for (const line of stderr.split('\n').filter(Boolean)) {
    if (!line.startsWith('berth: ')) problems.push(`not berth's: ${line}`);
    if (line.startsWith('berth: error: ') && !/\(hint: .+\)$/.test(line)) problems.push(`no hint: ${line}`);
    if (/\bat .+:\d+:\d+\)?$|internal|ENOENT|SyntaxError|TypeError/.test(line)) problems.push(`raw: ${line}`);
  }
  return problems;
}
