import type { EntryView } from '../contract.js';
import { watchAgents } from '../core/agent/list.js';
import { type FleetStatus, watchFleet } from '../core/fleet/status.js';
import { hostRepoFolders, type RepoIdentity, repoIdentity, watchHostLeases } from '../core/host/repos.js';
import { errorLine } from '../errors.js';
import { envFrom } from '../runtime.js';

export interface RepoSnapshot extends RepoIdentity {
  agents: EntryView[];
  error?: string;
}

export interface LiveSnapshot {
  repos: RepoSnapshot[];
  fleet?: { status?: FleetStatus; error?: string };
}

export interface LiveOptions {
  /** The repositories to show, or every one with agents on this host (found again as leases change). */
  repos: string[] | 'all';
  /** The fleet's queue URL, for the fleet tab. */
  queue?: string;
  signal: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

/**
 * What the page shows, kept current by the library's watchers (engine events, berth's state files, the
 * queue's events), and told to whoever listens, once per change.
 */
export class LiveView {
  private readonly repos = new Map<string, RepoSnapshot>();
  private readonly watched = new Set<string>();
  private readonly listeners = new Set<(snapshot: LiveSnapshot) => void>();
  private fleet: LiveSnapshot['fleet'];

  constructor(private readonly options: LiveOptions) {}

  /** Opens every repository (a folder that is not one fails here, before anything is served). */
  async start(): Promise<void> {
    if (this.options.repos === 'all') {
      await this.discover();
      const stop = watchHostLeases(envFrom(this.options.env), () => void this.discover());
      const timer = setInterval(() => void this.discover(), 10_000);
      this.options.signal.addEventListener('abort', () => {
        stop();
        clearInterval(timer);
      });
    } else {
      const identities = await Promise.all(this.options.repos.map((repo) => repoIdentity({ repo })));
      for (const identity of identities) this.watch(identity);
    }
    if (this.options.queue) this.watchQueue(this.options.queue);
  }

  snapshot(): LiveSnapshot {
    const repos = [...this.repos.values()].sort((a, b) => a.root.localeCompare(b.root));
    return { repos, ...(this.fleet && { fleet: this.fleet }) };
  }

  /** The working tree of a repository this view shows, by id; undefined for any other. */
  rootOf(id: string): string | undefined {
    return this.repos.get(id)?.root;
  }

  subscribe(listener: (snapshot: LiveSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    const snapshot = this.snapshot();
    for (const listener of this.listeners) listener(snapshot);
  }

  private async discover(): Promise<void> {
    for (const folder of hostRepoFolders(envFrom(this.options.env))) {
      if (this.watched.has(folder)) continue;
      this.watched.add(folder);
      try {
        this.watch(await repoIdentity({ repo: folder }));
      } catch {
        this.watched.delete(folder);
      }
    }
  }

  private watch(identity: RepoIdentity): void {
    if (this.repos.has(identity.id)) return;
    const entry: RepoSnapshot = { ...identity, agents: [] };
    this.repos.set(identity.id, entry);
    watchAgents({ repo: identity.root, signal: this.options.signal }, (agents) => {
      entry.agents = agents;
      delete entry.error;
      this.changed();
    }).catch((error) => {
      entry.error = errorLine(error);
      this.changed();
    });
  }

  private watchQueue(queue: string): void {
    const failed = (error: unknown) => {
      this.fleet = { error: errorLine(error) };
      this.changed();
    };
    // Through a queue restart the tab says so, and comes back with the queue.
    watchFleet(
      { queue, signal: this.options.signal },
      (status) => {
        this.fleet = { status };
        this.changed();
      },
      failed,
    ).catch(failed);
  }
}
