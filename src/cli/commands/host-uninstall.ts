import type { Command } from 'commander';
import { type Io, printResult, progressTo } from '../output.js';

export function registerHostUninstall(host: Command, io: Io): void {
  host
    .command('uninstall')
    .description(
      'remove what berth put on this host: its images, containers, networks, volumes, host folder and Compose plugin; refuses while agents exist',
    )
    .option('--dry-run', 'list what would be removed, change nothing')
    .option('--engine', 'also remove the OS packages berth installed (the engine among them), as root')
    .option('--force', 'tear every agent down first, as teardown --force does (saving uncommitted work)')
    .option('--json', 'print one JSON object')
    .action(async (options: { dryRun?: boolean; engine?: boolean; force?: boolean; json?: boolean }) => {
      const { hostUninstall } = await import('../../core/host/uninstall.js');
      const result = await hostUninstall({
        dryRun: options.dryRun ?? false,
        engine: options.engine ?? false,
        force: options.force ?? false,
        progress: progressTo(io),
      });
      if (options.json) return printResult(io, 'host uninstall', result);
      const verb = result.dryRun ? 'would remove' : 'removed';
      const lines = [
        ...result.agents.map(
          (a) =>
            `${a.kind.padEnd(6)} ${a.outcome.padEnd(16)} ${a.name} (${a.repo})${a.detail ? `: ${a.detail}` : ''}`,
        ),
        result.engine === 'absent'
          ? 'engine none on this host'
          : result.engine === 'stopped'
            ? 'engine stopped (a dry run does not start it): its images are not listed'
            : `engine ${verb} ${result.containers} container(s), ${result.networks} network(s), ${result.volumes} volume(s), ${result.images.length} image(s)`,
        ...result.keptImages.map((k) => `image  kept ${k.image}: ${k.reason}`),
        ...result.folders.map((f) => `folder ${verb} ${f}`),
        ...(result.savedWork ? [`saved  kept ${result.savedWork} (fleet work saved as patches)`] : []),
        ...(result.composePlugin ? [`plugin ${verb} ${result.composePlugin}`] : []),
        ...(result.packages.length > 0 ? [`apt    ${verb} ${result.packages.join(' ')}`] : []),
      ];
      const nothing =
        result.agents.length +
          result.containers +
          result.networks +
          result.volumes +
          result.images.length +
          result.folders.length +
          result.packages.length ===
          0 && !result.composePlugin;
      io.stdout(`${lines.join('\n')}\n${nothing ? 'nothing of berth is on this host\n' : ''}`);
    });
}
