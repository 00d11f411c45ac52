import { span } from '../plan/duration.js';

/**
 * What the page's script shares with the CLI, put in front of it: `span`, the one function `berth ls`
 * rounds ages with, so 90 s reads "1m" on both.
 */
const SHARED = `const span = ${span.toString()};\n`;

/** The page's three files as one document, its inline script and style allowed by the nonce alone. */
export function pageWith(assets: { html: string; css: string; js: string }, nonce: string): string {
  return assets.html
    .replace('<!-- style -->', () => `<style nonce="${nonce}">\n${assets.css}</style>`)
    .replace(
      '<!-- script -->',
      () => `<script type="module" nonce="${nonce}">\n${SHARED}${assets.js}</script>`,
    );
}
