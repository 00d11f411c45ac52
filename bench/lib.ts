import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { postgresAnswers, redisAnswers } from '../src/adapters/probe.js';
import { run } from '../src/adapters/programs.js';

/** The built CLI (bench files compile to dist-bench/bench/). */
export const BIN = new URL('../../dist/berth.mjs', import.meta.url).pathname;

export interface Stats {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2
      ? (sorted[middle] as number)
      : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  return { median, min: sorted[0] ?? 0, max: sorted.at(-1) ?? 0, runs: values };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

/** Runs a command and throws with its output when it fails: every bench step must really happen. */
export async function must(command: string, args: string[], cwd?: string, env?: NodeJS.ProcessEnv) {
  const result = await run(command, args, { cwd, env: env ?? process.env });
  if (result.exitCode !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited with ${result.exitCode}: ${result.stderr || result.stdout}`,
    );
  }
  return result.stdout;
}

export function berth(args: string[], cwd?: string) {
  return must('node', [BIN, ...args], cwd);
}

export async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await work();
  return { ms: performance.now() - start, value };
}

/** Waits until Postgres (with these credentials) and Redis (with this password) answer on 127.0.0.1. */
export async function waitForServices(databaseUrl: string, redisPort: number, redisPassword: string) {
  const deadline = Date.now() + 120_000;
  let pg = false;
  let redis = false;
  while (!(pg && redis)) {
    if (Date.now() > deadline) throw new Error('services did not answer within 120 s');
    [pg, redis] = await Promise.all([
      pg || postgresAnswers(databaseUrl).then((answer) => answer.ok),
      redis || redisAnswers(redisPort, redisPassword).then((answer) => answer.ok),
    ]);
    if (!(pg && redis)) await sleep(50);
  }
}

/** Host memory in use (total minus available), in MiB. */
export function memoryInUse(): number {
  const info = readFileSync('/proc/meminfo', 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return (field('MemTotal') - field('MemAvailable')) / 1024;
}

/** Samples host memory every 200 ms until stopped; returns the peak above the level at the start. */
export function sampleMemory(): () => number {
  const baseline = memoryInUse();
  let peak = baseline;
  const timer = setInterval(() => {
    peak = Math.max(peak, memoryInUse());
  }, 200);
  return () => {
    clearInterval(timer);
    return Math.max(0, peak - baseline);
  };
}

export async function machine() {
  const version = async (command: string, args: string[]) =>
    (await run(command, args)).stdout.split('\n')[0] ?? '';
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: readFileSync('/proc/version', 'utf8').split(' ')[2],
    node: process.version,
    docker: await version('docker', ['version', '--format', '{{.Server.Version}}']),
    compose:
      (await version('docker-compose', ['version', '--short'])) ||
      (await version('docker', ['compose', 'version', '--short'])),
    git: await version('git', ['--version']),
  };
}

/** Spawns without waiting (for processes started at the same moment). */
export function start(command: string, args: string[], cwd?: string) {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr })),
  );
}
