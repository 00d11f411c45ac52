import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  writeSync,
} from 'node:fs';

/**
 * Files inside a folder that someone else writes to at the same time (an agent's worktree, with the agent
 * running in its container): no symlink is ever followed, on the way or at the end, even one put there
 * between berth's check and its use. Each folder is opened by itself, without following a link
 * (O_NOFOLLOW | O_DIRECTORY), and the next name is opened relative to that open folder through
 * /proc/self/fd (Linux's openat, as Node has no openat): a name swapped for a link fails with ELOOP
 * instead of leading out. Files are opened non-blocking, so a FIFO the agent made cannot hang berth.
 */
export type ConfinedRefusal =
  | 'symlink'
  | 'not-a-folder'
  | 'not-a-file'
  | 'missing'
  | 'hard-linked'
  | 'too-large';

/** A path that cannot be used: where (the names up to the one refused) and why. */
export class ConfinedPathError extends Error {
  constructor(
    readonly refusal: ConfinedRefusal,
    readonly names: string[],
    readonly detail?: string,
  ) {
    super(`${refusal}: ${names.join('/')}`);
  }
}

export interface Owner {
  uid: number;
  gid: number;
}

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = constants;
const FOLDER = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
const at = (fd: number, name: string) => `/proc/self/fd/${fd}/${name}`;
const code = (error: unknown) => (error as NodeJS.ErrnoException).code;

/** What a name turned out to be when opening it failed; undefined for an error to pass on. */
function refusalOf(
  error: unknown,
  wanted: 'folder' | 'file',
  folder: number,
  name: string,
): ConfinedRefusal | undefined {
  const errno = code(error);
  // A symlink opened as a folder without following fails with ENOTDIR, not ELOOP: look, for the message.
  if (errno === 'ENOTDIR' || errno === 'ELOOP') {
    try {
      if (lstatSync(at(folder, name)).isSymbolicLink()) return 'symlink';
    } catch {
      // gone meanwhile: said below
    }
  }
  switch (errno) {
    case 'ELOOP':
      return 'symlink';
    case 'ENOENT':
      return 'missing';
    case 'ENOTDIR':
      return wanted === 'folder' ? 'not-a-folder' : 'missing';
    case 'EISDIR':
      return 'not-a-file';
    case 'ENXIO':
      return 'not-a-file'; // a FIFO or socket with nobody at the other end
    default:
      return undefined;
  }
}

/** Gives what this process makes to the owner, when it may (root); else it is ours, as it should be. */
function own(fd: number, owner: Owner | undefined) {
  if (owner && process.getuid?.() === 0) fchownSync(fd, owner.uid, owner.gid);
}

/**
 * Opens the folder `names` leads to inside `root` (the root itself for no names), refusing symlinks and
 * non-folders on the way; with `create`, missing folders are made and given to its owner.
 */
function openFolder(root: string, names: string[], create?: { owner?: Owner }): number {
  let fd = openSync(root, O_RDONLY | O_DIRECTORY);
  try {
    for (const [i, name] of names.entries()) {
      let next: number;
      try {
        next = openSync(at(fd, name), FOLDER);
      } catch (error) {
        const refusal = refusalOf(error, 'folder', fd, name);
        if (refusal !== 'missing' || !create) {
          if (refusal) throw new ConfinedPathError(refusal, names.slice(0, i + 1));
          throw error;
        }
        try {
          mkdirSync(at(fd, name), 0o755);
        } catch (made) {
          if (code(made) !== 'EEXIST') throw made;
        }
        try {
          next = openSync(at(fd, name), FOLDER);
        } catch (again) {
          const refusal = refusalOf(again, 'folder', fd, name);
          if (refusal) throw new ConfinedPathError(refusal, names.slice(0, i + 1));
          throw again;
        }
        own(next, create.owner);
      }
      closeSync(fd);
      fd = next;
    }
    return fd;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

function withFd<T>(fd: number, work: (fd: number) => T): T {
  try {
    return work(fd);
  } finally {
    closeSync(fd);
  }
}

/** Reads a regular file inside `root`, at most `maxBytes` of it (a larger one is refused). */
export function readConfined(root: string, names: string[], maxBytes: number): Buffer {
  const file = names.at(-1) as string;
  return withFd(openFolder(root, names.slice(0, -1)), (folder) => {
    let fd: number;
    try {
      fd = openSync(at(folder, file), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (error) {
      const refusal = refusalOf(error, 'file', folder, file);
      if (refusal) throw new ConfinedPathError(refusal, names);
      throw error;
    }
    return withFd(fd, () => {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw new ConfinedPathError('not-a-file', names);
      if (stat.size > maxBytes) throw new ConfinedPathError('too-large', names, String(stat.size));
      const buffer = Buffer.alloc(stat.size);
      let read = 0;
      while (read < buffer.length) {
        const n = readSync(fd, buffer, read, buffer.length - read, read);
        if (n === 0) break;
        read += n;
      }
      return buffer.subarray(0, read);
    });
  });
}

/**
 * Writes a regular file inside `root` (its folders made as needed), replacing what it held. A new
 * file or folder is given to `owner`; an existing file keeps its owner and mode. A file with other hard
 * links is refused: writing it would change a file elsewhere.
 */
export function writeConfined(
  root: string,
  names: string[],
  content: Buffer,
  owner?: Owner,
  /** The file's mode, new or not (else a new file's is 0644 and an existing one's stays). */
  mode?: number,
): { created: boolean } {
  const file = names.at(-1) as string;
  return withFd(openFolder(root, names.slice(0, -1), { owner }), (folder) => {
    let fd: number;
    let created = false;
    try {
      fd = openSync(at(folder, file), O_WRONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (error) {
      const refusal = refusalOf(error, 'file', folder, file);
      if (refusal !== 'missing') {
        if (refusal) throw new ConfinedPathError(refusal, names);
        throw error;
      }
      try {
        fd = openSync(at(folder, file), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK, 0o644);
      } catch (again) {
        // Made by someone else meanwhile, or a link put there: either way not written through.
        const refusal = refusalOf(again, 'file', folder, file);
        if (code(again) === 'EEXIST')
          throw new ConfinedPathError('not-a-file', names, 'appeared while written');
        if (refusal) throw new ConfinedPathError(refusal, names);
        throw again;
      }
      created = true;
    }
    return withFd(fd, () => {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw new ConfinedPathError('not-a-file', names);
      if (stat.nlink > 1) throw new ConfinedPathError('hard-linked', names, String(stat.nlink));
      if (created) own(fd, owner);
      if (mode !== undefined) fchmodSync(fd, mode);
      ftruncateSync(fd, 0);
      let written = 0;
      while (written < content.length) written += writeSync(fd, content, written, content.length - written);
      return { created };
    });
  });
}

export interface ConfinedEntry {
  name: string;
  type: 'file' | 'folder' | 'symlink' | 'other';
  size: number;
}

/** The entries of a folder inside `root` (the root for no names), symlinks shown as such, not followed. */
export function listConfined(root: string, names: string[]): ConfinedEntry[] {
  return withFd(openFolder(root, names), (folder) =>
    readdirSync(`/proc/self/fd/${folder}`, { withFileTypes: true })
      .map((entry): ConfinedEntry => {
        const type = entry.isFile()
          ? 'file'
          : entry.isDirectory()
            ? 'folder'
            : entry.isSymbolicLink()
              ? 'symlink'
              : 'other';
        let size = 0;
        if (type === 'file') {
          try {
            size = lstatSync(at(folder, entry.name)).size;
          } catch {
            // gone since it was listed
          }
        }
        return { name: entry.name, type, size };
      })
      .sort((a, b) => a.name.localeCompare(b.name)),
  );
}
