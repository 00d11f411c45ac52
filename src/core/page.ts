import { join } from 'node:path';
import { readText, removeFile, writeFile } from '../adapters/files.js';
import { startDetached } from '../adapters/programs.js';
import { packageRoot } from '../package-root.js';
import { hostPaths } from '../state/paths.js';

/** The page's own files, served inline from the package (templates/ui): nothing from a CDN. */
export function pageAssets(): { html: string; css: string; js: string } {
  const assets = join(packageRoot(), 'templates', 'ui');
  const read = (file: string) => readText(join(assets, file)) ?? '';
  return { html: read('index.html'), css: read('style.css'), js: read('app.js') };
}

/**
 * Opens the page with the desktop's opener. The token stays out of `ps`: the opener gets a file only
 * this user can read, which sends the browser on to the URL (as Jupyter does); it goes when `signal` aborts.
 */
export function openInBrowser(url: string, port: number, env: NodeJS.ProcessEnv, signal: AbortSignal): void {
  const file = hostPaths(env).uiOpener(port);
  const target = url.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
  writeFile(
    file,
    `<!doctype html><meta http-equiv="refresh" content="0;url=${target}"><a href="${target}">berth ui</a>\n`,
    0o600,
  );
  signal.addEventListener('abort', () => removeFile(file), { once: true });
  startDetached('xdg-open', [file], env);
}
