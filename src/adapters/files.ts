import {
  appendFileSync,
  chmodSync,
  closeSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';

/**
 * The small file operations berth's stories use. Every write creates its folder first: on a fresh host
 * (or a repository berth has never seen) none of berth's folders exist yet.
 */
export function writeFile(path: string, text: string, mode?: number): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text, mode === undefined ? undefined : { mode });
}

/** Writes through a temporary file and a rename, so a reader never sees half of it. */
export function writeFileAtomic(path: string, text: string, mode?: number): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFile(temporary, text, mode);
  renameSync(temporary, path);
}

export function appendFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  appendFileSync(path, text);
}

/** Opens a file for appending (a log), creating its folder first; the caller closes the descriptor. */
export function openForAppend(path: string): number {
  mkdirSync(dirname(path), { recursive: true });
  return openSync(path, 'a');
}

export function closeFile(fd: number): void {
  closeSync(fd);
}

export function ensureDir(path: string, mode?: number): void {
  mkdirSync(path, { recursive: true, ...(mode === undefined ? {} : { mode }) });
}

export function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export function exists(path: string): boolean {
  return existsSync(path);
}

export function copyTree(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  cpSync(from, to, { recursive: true });
}

export function removeTree(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

/** Copies a program into place, executable (a CLI plugin). */
export function installExecutable(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  chmodSync(to, 0o755);
}

export function moveFile(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  renameSync(from, to);
}
