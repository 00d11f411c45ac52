/*
 * Secrets by reference (berth.yaml `secrets:`): berth resolves each on the host, by the user running it,
 * and writes it into the running agent container through an exec's stdin, as /run/secrets/NAME on a
 * tmpfs. No value is ever in the compose file, an env file, berth's state, a log or an answer: what a
 * command prints of one is replaced by ***. Everything here is data; core does the reading and writing.
 */

/** Where the agent container keeps its secrets: a tmpfs, so they are never on a disk. */
export const SECRETS_DIR = '/run/secrets';
export const REDACTED = '***';

export type SecretReference =
  | { kind: 'env'; variable: string }
  | { kind: 'file'; path: string }
  | { kind: 'command'; line: string };

export function parseSecretReference(from: string): SecretReference {
  if (from.startsWith('env:')) return { kind: 'env', variable: from.slice(4) };
  if (from.startsWith('file:')) return { kind: 'file', path: from.slice(5) };
  return { kind: 'command', line: from.slice('command:'.length).trim() };
}

/** What berth records of a secret: its name and where it goes, never its value. */
export interface SecretGrant {
  name: string;
  to: Array<'agent' | 'hooks'>;
  env: boolean;
}

export function grantsOf(
  secrets: Record<string, { to: Array<'agent' | 'hooks'>; env: boolean }>,
): SecretGrant[] {
  return Object.entries(secrets).map(([name, secret]) => ({ name, to: [...secret.to], env: secret.env }));
}

/** A file's or a command's value ends at its last line: one trailing newline is not part of it. */
export function trimValue(text: string): string {
  return text.replace(/\r?\n$/, '');
}

/**
 * A command run in the container with the given secrets as variables, read from their files by the
 * shell that then becomes the command: the values are in no argument and in nothing the engine keeps.
 */
export function withSecretVariables(names: readonly string[], command: readonly string[]): string[] {
  if (names.length === 0) return [...command];
  const reads = names.map((name) => `${name}="$(cat ${SECRETS_DIR}/${name})" && export ${name}`);
  return ['sh', '-c', `${reads.join(' && ')} && exec "$@"`, 'berth-secrets', ...command];
}

/**
 * Run as root in the agent container with the value on stdin: writes /run/secrets/NAME, owned by the
 * agent's user, mode 0400. The folder is made root's (the agent cannot plant files in it); the value
 * goes to a new file of a random name (mktemp: never one the agent made) renamed into place.
 */
export function writeSecretScript(name: string, user: { uid: number; gid: number }): string {
  const target = `${SECRETS_DIR}/${name}`;
  return [
    'set -eu',
    'umask 077',
    // Never onto a disk: an agent made before berth mounted the tmpfs must be provisioned again.
    `grep -qs ' ${SECRETS_DIR} tmpfs ' /proc/mounts || { echo '${SECRETS_DIR} is not a tmpfs in this container' >&2; exit 3; }`,
    `chown 0:0 ${SECRETS_DIR}`,
    `chmod 0755 ${SECRETS_DIR}`,
    `tmp=$(mktemp ${SECRETS_DIR}/.${name}.XXXXXX)`,
    'cat > "$tmp"',
    `chown ${user.uid}:${user.gid} "$tmp"`,
    'chmod 0400 "$tmp"',
    `mv -f "$tmp" ${target}`,
  ].join('\n');
}

export function removeSecretsScript(names: readonly string[]): string {
  return `rm -f ${names.map((name) => `${SECRETS_DIR}/${name}`).join(' ')}`;
}

/** Prints each present secret as `NAME LENGTH\n` and its bytes: what readSecretsOutput parses. */
export function readSecretsScript(names: readonly string[]): string {
  return `for n in ${names.join(' ')}; do f=${SECRETS_DIR}/$n; [ -f "$f" ] || continue; printf '%s %s\\n' "$n" "$(wc -c < "$f" | tr -d ' ')"; cat "$f"; done`;
}

export function parseSecretsOutput(output: Buffer): Map<string, string> {
  const values = new Map<string, string>();
  let offset = 0;
  while (offset < output.length) {
    const newline = output.indexOf(0x0a, offset);
    if (newline === -1) break;
    const [name, length] = output.subarray(offset, newline).toString('utf8').split(' ');
    const size = Number(length);
    if (!name || !Number.isInteger(size)) break;
    values.set(name, output.subarray(newline + 1, newline + 1 + size).toString('utf8'));
    offset = newline + 1 + size;
  }
  return values;
}

/** Replaces every occurrence of any value in a text with ***. */
export function redactText(text: string, values: readonly string[]): string {
  const wanted = [...new Set(values.filter((value) => value.length > 0))].sort((a, b) => b.length - a.length);
  let out = text;
  for (const value of wanted) out = out.split(value).join(REDACTED);
  return out;
}

/** Shorter values are not masked in a saved patch: they cannot be told from ordinary text. */
export const PATCH_MASK_MIN = 4;

/**
 * A saved patch with secret values masked where they were added (its `+` lines), so it still applies:
 * file names, headers, context and removed lines (the base's own text) and binary hunks are kept as
 * they are, and values shorter than PATCH_MASK_MIN are not masked.
 */
export function redactPatch(patch: string, values: readonly string[]): string {
  const masked = values.filter((value) => value.length >= PATCH_MASK_MIN);
  if (masked.length === 0) return patch;
  // Lines of a text hunk: from its @@ line to the next file's header (binary hunks have none).
  let inHunk = false;
  return patch
    .split('\n')
    .map((line) => {
      if (line.startsWith('diff --git ')) inHunk = false;
      else if (line.startsWith('@@ ')) inHunk = true;
      return inHunk && line.startsWith('+') ? `+${redactText(line.slice(1), masked)}` : line;
    })
    .join('\n');
}

/**
 * Replaces secrets in a stream of output chunks, even one cut across two chunks: it holds back the last
 * bytes that could be the start of a value until the next chunk (or the end) shows what they are.
 */
export class Redactor {
  private readonly values: Buffer[];
  private readonly longest: number;
  private pending: Buffer = Buffer.alloc(0);

  constructor(values: readonly string[]) {
    this.values = [...new Set(values.filter((value) => value.length > 0))]
      .map((value) => Buffer.from(value))
      .sort((a, b) => b.length - a.length);
    this.longest = this.values[0]?.length ?? 0;
  }

  get active(): boolean {
    return this.longest > 0;
  }

  /** What can be written now of what came so far. */
  push(chunk: Buffer): Buffer {
    if (!this.active) return chunk;
    return this.process(Buffer.concat([this.pending, chunk]), false);
  }

  /** The rest, at the end of the stream. */
  flush(): Buffer {
    if (!this.active) return Buffer.alloc(0);
    return this.process(this.pending, true);
  }

  private process(data: Buffer, final: boolean): Buffer {
    // A value starting before `limit` lies wholly in `data`; one starting after may go on in the next chunk.
    const limit = final ? data.length : Math.max(0, data.length - (this.longest - 1));
    const out: Buffer[] = [];
    let at = 0;
    while (at < limit) {
      let start = -1;
      let length = 0;
      for (const value of this.values) {
        const found = data.indexOf(value, at);
        if (found !== -1 && found < limit && (start === -1 || found < start)) {
          start = found;
          length = value.length;
        }
      }
      if (start === -1) break;
      out.push(data.subarray(at, start), Buffer.from(REDACTED));
      at = start + length;
    }
    if (at < limit) {
      out.push(data.subarray(at, limit));
      at = limit;
    }
    this.pending = Buffer.from(data.subarray(at));
    return Buffer.concat(out);
  }
}
