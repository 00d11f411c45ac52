/** The page's three files as one document, its inline script and style allowed by the nonce alone. */
export function pageWith(template: { html: string; css: string; js: string }, nonce: string): string {
  return template.html
    .replace('<!-- style -->', () => `<style nonce="${nonce}">\n${template.css}</style>`)
    .replace('<!-- script -->', () => `<script type="module" nonce="${nonce}">\n${template.js}</script>`);
}
