// Writes dist/THIRD-PARTY-LICENSES.txt: every npm package whose code the bundle contains (the inputs
// esbuild's metafile lists), with its name, version, declared licence and the text of its licence files.
// The metafile is build scratch and is removed once read. Usage: node src/build/third-party-licenses.mjs
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const META = 'dist/.meta.json';
const OUT = 'dist/THIRD-PARTY-LICENSES.txt';
const LICENCE_FILE = /^(licen[cs]e|copying|notice)([.-].*)?$/i;

const meta = JSON.parse(readFileSync(META, 'utf8'));
rmSync(META, { force: true });

/** The package folder of an input: up to and including the last node_modules/<name> or <@scope/name>. */
function packageDir(input) {
  const parts = input.split('/');
  const at = parts.lastIndexOf('node_modules');
  if (at === -1) return undefined;
  const size = parts[at + 1]?.startsWith('@') ? 2 : 1;
  return parts.slice(0, at + 1 + size).join('/');
}

const dirs = new Set();
for (const input of Object.keys(meta.inputs)) {
  const dir = packageDir(input);
  if (dir) dirs.add(dir);
}

const packages = [...dirs]
  .map((dir) => {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const declared =
      typeof manifest.license === 'string'
        ? manifest.license
        : (manifest.license?.type ?? manifest.licenses?.map((l) => l.type ?? l).join(' OR ') ?? 'UNKNOWN');
    const files = readdirSync(dir)
      .filter((file) => LICENCE_FILE.test(file))
      .sort();
    return { name: manifest.name, version: manifest.version, declared, dir, files };
  })
  .sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));

const seen = new Set();
const sections = [];
for (const pkg of packages) {
  const id = `${pkg.name}@${pkg.version}`;
  if (seen.has(id)) continue;
  seen.add(id);
  const texts = pkg.files.map(
    (file) => `--- ${file}\n\n${readFileSync(join(pkg.dir, file), 'utf8').trim()}\n`,
  );
  sections.push(
    [
      `${id}`,
      `License: ${pkg.declared}`,
      ...(texts.length > 0
        ? texts
        : ['(the package ships no licence file; its package.json declares the licence above)\n']),
    ].join('\n'),
  );
}

if (!existsSync('dist')) throw new Error('dist/ is missing: run the bundle first');
writeFileSync(
  OUT,
  `berth bundles the code of the following ${sections.length} packages into dist/. Their licences follow.\n\n${sections.join('\n\n')}`,
);
