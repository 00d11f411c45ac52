import {
  appendFileSync,
  chmodSync,
  chownSync,
  closeSync,
  copyFileSync,
  cpSync,
  createReadStream,
  existsSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  watch,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { Redactor } from '../plan/secrets.js';

/**
 * The small file operations berth's stories use. Every write creates its folder first: on a fresh host
 * (or a repository berth has never seen) none of berth's folders exist yet.
 */
export function writeFile(path: string, text: string, mode?: number): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text, mode === undefined ? undefined : { mode });
  // The mode given applies to a file that was there before, too.
  if (mode !== undefined) chmodSync(path, mode);
}

/** Writes through a temporary file and a rename, so a reader never sees half of it. */
export function writeFileAtomic(path: string, text: string, mode?: number): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFile(temporary, text, mode);
  renameSync(temporary, path);
}

/** Creates a file only when none is there: false when one is (another process made it first). */
export function createExclusive(path: string, text: string, mode = 0o600): boolean {
  mkdirSync(dirname(path), { recursive: true });
  try {
    writeFileSync(path, text, { flag: 'wx', mode });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

export function removeFile(path: string): void {
  rmSync(path, { force: true });
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

/** A folder owned by uid:gid (a user's cache, written from its containers); made if missing. */
export function ensureOwnedDir(path: string, uid: number, gid: number): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  if (ownerOf(path).uid !== uid) chownSync(path, uid, gid);
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

/** The path with every symbolic link resolved; the path as given when it does not exist. */
export function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

export function copyTree(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  cpSync(from, to, { recursive: true });
}

/** Copies a file or folder; a link inside it is copied as the link it is, never followed. */
export function copyTreeKeepingLinks(from: string, to: string): void {
  rmSync(to, { recursive: true, force: true });
  mkdirSync(dirname(to), { recursive: true });
  cpSync(from, to, { recursive: true, dereference: false, verbatimSymlinks: true });
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

/** Logs are capped: past this size a log is rotated to <log>.1 (replacing the older one). */
export const LOG_MAX_BYTES = 8 * 1024 * 1024;

/**
 * An append-only log that never grows past `maxBytes`: when a write would pass it, the log moves to
 * `<path>.1` and a new one starts. At most about twice the cap is on disk per log.
 */
export class CappedLog {
  private fd: number;
  private size: number;
  /** Secrets in what is written become ***, even one cut across two writes. */
  private readonly redactor: Redactor;

  constructor(
    readonly path: string,
    private readonly maxBytes = LOG_MAX_BYTES,
    redact: readonly string[] = [],
  ) {
    this.fd = openForAppend(path);
    this.size = fstatSync(this.fd).size;
    this.redactor = new Redactor(redact);
  }

  write(chunk: Buffer | string): void {
    this.append(this.redactor.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
  }

  close(): void {
    this.append(this.redactor.flush());
    closeSync(this.fd);
  }

  private append(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.size > 0 && this.size + bytes.length > this.maxBytes) this.rotate();
    // A single chunk larger than the cap keeps only its tail.
    const kept = bytes.length > this.maxBytes ? bytes.subarray(bytes.length - this.maxBytes) : bytes;
    writeSync(this.fd, kept);
    this.size += kept.length;
  }

  private rotate(): void {
    closeSync(this.fd);
    renameSync(this.path, `${this.path}.1`);
    this.fd = openForAppend(this.path);
    this.size = 0;
  }
}

/** The files of a capped log, oldest first: `<path>.1` (if rotated) and `<path>`. */
export function logParts(path: string): string[] {
  return [`${path}.1`, path].filter((part) => existsSync(part));
}

/** A file's contents in chunks, never all of it in memory. */
export async function* readChunks(path: string): AsyncGenerator<Buffer> {
  for await (const chunk of createReadStream(path)) yield chunk as Buffer;
}

/** The names in a folder, sorted; none when it does not exist. */
export function listDir(path: string): string[] {
  try {
    return readdirSync(path).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

export function readBytes(path: string): Buffer {
  return readFileSync(path);
}

export function copyFile(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
}

/** A new empty folder under `parent` (made if missing), named `<prefix><random>`. */
export function makeTempDir(parent: string, prefix: string): string {
  mkdirSync(parent, { recursive: true });
  return mkdtempSync(join(parent, prefix));
}

/** Who owns a path: its files keep that owner when an agent writes them. */
export function ownerOf(path: string): { uid: number; gid: number } {
  const { uid, gid } = statSync(path);
  return { uid, gid };
}

/** The last bytes of a file, read from its end. */
export function readTail(file: string, maxBytes: number): { text: string; truncated: boolean } {
  const size = statSync(file).size;
  const length = Math.min(size, maxBytes);
  const buffer = Buffer.alloc(length);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buffer, 0, length, size - length);
  } finally {
    closeSync(fd);
  }
  return { text: buffer.toString('utf8'), truncated: size > maxBytes };
}

/** A file's owner and mode. */
export function fileFacts(path: string): { uid: number; gid: number; mode: number } {
  const { uid, gid, mode } = statSync(path);
  return { uid, gid, mode };
}

/** Calls `onChange` when something in a folder is added, replaced or removed; returns how to stop. */
export function watchFolder(path: string, onChange: () => void): () => void {
  try {
    const watcher = watch(path, () => onChange());
    watcher.on('error', () => {});
    return () => watcher.close();
  } catch {
    return () => {};
  }
}

/**
 * Calls `onText` with what is appended to `file` from `offset` on (a file that does not exist yet is
 * waited for; one that shrinks was rotated and is read from its start), until the returned stop.
 */
export function followFile(file: string, offset: number, onText: (text: string) => void): () => void {
  let position = offset;
  let reading = false;
  const readNew = () => {
    if (reading) return;
    reading = true;
    try {
      if (!existsSync(file)) return;
      const size = statSync(file).size;
      if (size < position) position = 0;
      if (size === position) return;
      const buffer = Buffer.alloc(size - position);
      const fd = openSync(file, 'r');
      try {
        readSync(fd, buffer, 0, buffer.length, position);
      } finally {
        closeSync(fd);
      }
      position = size;
      onText(buffer.toString('utf8'));
    } finally {
      reading = false;
    }
  };
  const stopWatch = watchFolder(dirname(file), readNew);
  // Writes from another mount namespace do not always reach a watcher.
  const timer = setInterval(readNew, 1_000);
  return () => {
    stopWatch();
    clearInterval(timer);
  };
}

/** The size of a file, 0 when it does not exist. */
export function sizeOf(file: string): number {
  return existsSync(file) ? statSync(file).size : 0;
}

/**
 * The files under a folder, relative to it with /, sorted, recursively; `.git` is left out and symbolic
 * links are listed, not followed.
 */
export function listFiles(root: string): string[] {
  const found: string[] = [];
  const walk = (relativeDir: string) => {
    for (const entry of readdirSync(join(root, relativeDir), { withFileTypes: true })) {
      if (entry.name === '.git') continue;
      const path = relativeDir ? `${relativeDir}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path);
      else found.push(path);
    }
  };
  walk('');
  return found.sort();
}

/**
 * What a path is, without following a link: a link's content is where it points (as `docker build`
 * sends it), a file's its bytes; anything else (a FIFO, a device, a socket) has none to read.
 */
export function entryContent(
  path: string,
): { kind: 'file'; bytes: Buffer } | { kind: 'link'; target: string } | { kind: 'other' } {
  const stats = lstatSync(path);
  if (stats.isSymbolicLink()) return { kind: 'link', target: readlinkSync(path) };
  if (stats.isFile()) return { kind: 'file', bytes: readFileSync(path) };
  return { kind: 'other' };
}
