import {
  type ConfinedEntry,
  ConfinedPathError,
  listConfined,
  readConfined,
  writeConfined,
} from '../../adapters/confined-files.js';
import type { ToolResultOf } from '../../contract.js';
import { UsageError } from '../../errors.js';
import type { AgentRecord } from '../../plan/agent.js';
import { validateAgentName } from '../../plan/names.js';
import { Redactor } from '../../plan/secrets.js';
import { shownPath, worktreePathNames } from '../../plan/worktree-path.js';
import { openRepo, type RepoContext, type RepoOptions, requireAgent } from '../context.js';
import { valuesToMask } from './secrets.js';

/**
 * The largest file `readWorktreeFile` returns; past it, `exec` (head, tail, sed) reads parts. An MCP
 * answer carries the content twice (as JSON text and as structuredContent), JSON-escaped, in one line
 * that the official SDK's client reads into a buffer of at most 10 MiB: 1 MiB of file makes at most
 * about 6 MiB of answer (see READ_TEXT_JSON_BYTES), base64 about 2.7 MiB.
 */
export const READ_FILE_BYTES = 1024 * 1024;

/**
 * Text whose JSON string is longer than this (a file of control characters escapes to six times its
 * size) is given as base64 instead, so an answer stays within three times this plus its frame.
 */
export const READ_TEXT_JSON_BYTES = 2 * READ_FILE_BYTES;

export interface WorktreeFileOptions extends RepoOptions {
  name: string;
  /** Relative to the agent's worktree. */
  path: string;
}

export type FileEncoding = 'utf8' | 'base64';

async function agentWorktree(options: WorktreeFileOptions) {
  const context = await openRepo(options, { engine: false });
  return requireAgent(context, validateAgentName(options.name));
}

/** The one line for a path the walk refused. */
function refused(error: unknown, agent: string): unknown {
  if (!(error instanceof ConfinedPathError)) return error;
  const at = shownPath(error.names);
  const why = {
    symlink: `${at} is a symlink: the file operations follow no link, inside the worktree or out of it`,
    'not-a-folder': `${at} is not a folder`,
    'not-a-file': `${at} is not a regular file`,
    missing: `${at} does not exist in the worktree of ${agent}`,
    'hard-linked': `${at} has other hard links: writing it would change a file elsewhere`,
    'too-large': `${at} is ${error.detail} bytes, over the ${READ_FILE_BYTES} bytes a read returns`,
  }[error.refusal];
  const hint = {
    symlink: 'name the file the link points to, by its path in the worktree',
    'not-a-folder': 'see the folder with list_files',
    'not-a-file': 'see the folder with list_files',
    missing: 'see the folder with list_files',
    'hard-linked': 'remove the other links, or write the file with exec',
    'too-large': 'read parts of it with exec (head -c, tail -c, sed -n)',
  }[error.refusal];
  return new UsageError('worktree-path-refused', why, { hint });
}

/**
 * A file of the agent's worktree: as text when it is UTF-8 (and its JSON fits an answer), else as
 * base64. The agent's Postgres and Redis passwords and its secrets' values (read back from its container)
 * are replaced by *** in the content unless `showSecrets`: a worktree holds them (`.env.local`, what a
 * tool wrote), and a result is data that an MCP client shows and keeps. `size` is the file's own.
 */
export async function readWorktreeFile(
  options: WorktreeFileOptions & { encoding?: FileEncoding; showSecrets?: boolean },
): Promise<ToolResultOf<'file read'>> {
  const names = worktreePathNames(options.path, 'read');
  const context = await openRepo(options, { engine: false });
  const agent = requireAgent(context, validateAgentName(options.name));
  let bytes: Buffer;
  try {
    bytes = readConfined(agent.worktree, names, READ_FILE_BYTES);
  } catch (error) {
    throw refused(error, agent.name);
  }
  const shown = options.showSecrets ? bytes : await masked(bytes, context, agent);
  const decoded = options.encoding === 'base64' ? undefined : utf8(shown);
  const text =
    decoded !== undefined && Buffer.byteLength(JSON.stringify(decoded)) <= READ_TEXT_JSON_BYTES
      ? decoded
      : undefined;
  return {
    name: agent.name,
    path: shownPath(names),
    size: bytes.length,
    encoding: text === undefined ? 'base64' : 'utf8',
    content: text ?? shown.toString('base64'),
  };
}

/** The bytes with the agent's passwords and secret values replaced by ***. */
async function masked(bytes: Buffer, context: RepoContext, agent: AgentRecord): Promise<Buffer> {
  const secrets = agent.secrets?.length ? await valuesToMask(context, agent) : [];
  const redactor = new Redactor([...Object.values(agent.passwords), ...secrets]);
  return Buffer.concat([redactor.push(bytes), redactor.flush()]);
}

/**
 * Writes a file of the agent's worktree (its folders made as needed), as the agent would: what berth
 * makes belongs to the agent's user.
 */
export async function writeWorktreeFile(
  options: WorktreeFileOptions & { content: string; encoding?: FileEncoding },
): Promise<ToolResultOf<'file write'>> {
  const names = worktreePathNames(options.path, 'write');
  const bytes = Buffer.from(options.content, options.encoding === 'base64' ? 'base64' : 'utf8');
  const agent = await agentWorktree(options);
  try {
    const { created } = writeConfined(agent.worktree, names, bytes, agent.user);
    return { name: agent.name, path: shownPath(names), size: bytes.length, created };
  } catch (error) {
    throw refused(error, agent.name);
  }
}

/** The entries of a folder of the agent's worktree (its root by default); links shown, never followed. */
export async function listWorktreeFiles(
  options: RepoOptions & { name: string; path?: string },
): Promise<ToolResultOf<'file list'>> {
  const names = worktreePathNames(options.path ?? '.', 'list');
  const agent = await agentWorktree({ ...options, path: options.path ?? '.' });
  let entries: ConfinedEntry[];
  try {
    entries = listConfined(agent.worktree, names);
  } catch (error) {
    throw refused(error, agent.name);
  }
  return { name: agent.name, path: shownPath(names), entries };
}

function utf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
