import { aptInstall, installedPackages } from '../../adapters/apt.js';
import { readText, writeFileAtomic } from '../../adapters/files.js';
import {
  EMPTY_INSTALL_RECORD,
  type InstallRecord,
  installRecordSchema,
  recordInstall,
} from '../../plan/uninstall.js';
import type { HostPaths } from '../../state/paths.js';

/** What berth installed on this host, as recorded; empty when nothing (or an unreadable record). */
export function readInstallRecord(paths: HostPaths): InstallRecord {
  const text = readText(paths.installRecord);
  if (text === undefined) return EMPTY_INSTALL_RECORD;
  const parsed = installRecordSchema.safeParse(safeJson(text));
  return parsed.success ? parsed.data : EMPTY_INSTALL_RECORD;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function writeInstallRecord(paths: HostPaths, record: InstallRecord): void {
  writeFileAtomic(paths.installRecord, `${JSON.stringify(record, null, 2)}\n`, 0o644);
}

/**
 * Installs OS packages with apt-get and records the ones that were not installed before (the requested
 * ones and their dependencies): `berth host uninstall --engine` removes exactly those.
 */
export async function installRecorded(
  packages: readonly string[],
  paths: HostPaths,
  logFile: string,
  now: () => number = Date.now,
): Promise<void> {
  const before = await installedPackages();
  try {
    await aptInstall(packages, logFile);
  } finally {
    // Recorded even when apt failed part-way: whatever it did install is berth's.
    const after = await installedPackages();
    const at = new Date(now()).toISOString();
    const record = recordInstall(readInstallRecord(paths), before, after, at);
    if (record.packages.length !== readInstallRecord(paths).packages.length)
      writeInstallRecord(paths, record);
  }
}

/** Records the Compose plugin file berth copied in. */
export function recordComposePlugin(paths: HostPaths, path: string, now: () => number = Date.now): void {
  const record = readInstallRecord(paths);
  writeInstallRecord(paths, { ...record, composePlugin: { path, at: new Date(now()).toISOString() } });
}
