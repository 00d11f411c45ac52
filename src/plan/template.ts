import { createHash } from 'node:crypto';
import { UsageError } from '../errors.js';

/**
 * Database templates: the first agent on a base runs `migrate` and `seed`, then its stopped Postgres is
 * committed as an image; later agents on the same base run that image. With ephemeral storage the
 * cluster is in the image's layer and nothing is copied at start (overlayfs copies a file up only when
 * it is first written); with durable storage the entrypoint copies it into the agent's volume.
 */
export const TEMPLATE_REPOSITORY = 'berth/pg-template';
export const SNAPSHOT_REPOSITORY = 'berth/pg-snapshot';
/** A file the entrypoint looks for: this cluster came from a template, give it this container's password. */
export const FROM_TEMPLATE_MARKER = 'berth-from-template';

export const TEMPLATE_LABEL = 'dev.berth.template';
export const TEMPLATE_KEY_LABEL = 'dev.berth.template-key';
/** The image a template was made from, by id: what it adds is its size less that one's. */
export const TEMPLATE_BASE_LABEL = 'dev.berth.template-base';
export const SNAPSHOT_LABEL = 'dev.berth.snapshot';

export interface TemplateKeyInput {
  repoId: string;
  /** The Postgres image the template starts from, by id: a rebuilt image makes new templates. */
  baseImageId: string;
  user: string;
  database: string;
  migrate: string[];
  seed: string[];
  /** key: base → the commit; key: files → each listed path with its blob or tree id at that commit. */
  source: { kind: 'base'; commit: string } | { kind: 'files'; ids: Array<[string, string]> };
}

/** What identifies a template: everything that changes what `migrate` and `seed` leave in the database. */
export function templateKey(input: TemplateKeyInput): string {
  return createHash('sha256').update(JSON.stringify(input)).digest('hex').slice(0, 20);
}

export function templateImage(repoId: string, key: string): string {
  return `${TEMPLATE_REPOSITORY}:${repoId}-${key}`;
}

const SNAPSHOT_NAME = /^[a-z0-9][a-z0-9_.-]{0,39}$/;

/** A snapshot's label, checked: it becomes part of an image tag. */
export function validateSnapshotLabel(label: string): string {
  if (!SNAPSHOT_NAME.test(label))
    throw new UsageError('bad-snapshot-label', `"${label}" is not a valid snapshot label`, {
      hint: 'use up to 40 lowercase letters, digits, ".", "_" and "-", starting with a letter or digit',
    });
  return label;
}

export function snapshotImage(repoId: string, agent: string, instance: string, label: string): string {
  // Tags allow 128 characters; agent names are at most 40, instances 12.
  return `${SNAPSHOT_REPOSITORY}:${repoId}-${agent}-${instance}-${label}`;
}

/** A label for a snapshot taken without --as: its moment, sortable. */
export function defaultSnapshotLabel(now: number): string {
  return new Date(now).toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-').toLowerCase();
}

const SIZE_UNITS: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 };

/** "20GB" → bytes (decimal units, as `docker images` shows them). */
export function sizeBytes(size: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)$/i.exec(size.trim());
  if (!match) throw new Error(`not a size: ${size}`);
  return Math.round(Number(match[1]) * (SIZE_UNITS[(match[2] as string).toUpperCase()] ?? 1));
}

export interface TemplateImage {
  ref: string;
  repoId: string;
  key: string;
  /** What the template adds to the image it was made from. */
  bytes: number;
  createdAt: number;
}

/**
 * Which templates gc removes: never one an agent's container runs, nor the template of the repository's
 * current base (`currentKey`: the next agent wants it; when it cannot be told, the newest of each
 * repository stands for it); of the rest, the oldest first until what stays fits `budget`.
 */
export function templatesToRemove(
  templates: TemplateImage[],
  inUse: Set<string>,
  budgetBytes: number,
  currentKey?: string,
): TemplateImage[] {
  const newest = new Map<string, TemplateImage>();
  for (const t of templates) {
    const seen = newest.get(t.repoId);
    if (!seen || t.createdAt > seen.createdAt) newest.set(t.repoId, t);
  }
  const current = (t: TemplateImage) =>
    currentKey === undefined ? newest.get(t.repoId) === t : t.key === currentKey;
  const kept = (t: TemplateImage) => inUse.has(t.ref) || current(t);
  let total = templates.reduce((sum, t) => sum + t.bytes, 0);
  const removable = templates.filter((t) => !kept(t)).sort((a, b) => a.createdAt - b.createdAt);
  const removed: TemplateImage[] = [];
  for (const t of removable) {
    if (total <= budgetBytes) break;
    removed.push(t);
    total -= t.bytes;
  }
  return removed;
}
