// The package's code is two esbuild bundles that share their chunks: the CLI (dist/berth.mjs) and the
// library entry (dist/index.mjs). Both hold every dependency, so an install pulls none; each command
// loads only the chunks it runs (a split at every dynamic import).
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

// dockerode's SSH transport and the gRPC modules its BuildKit session would load: berth uses neither.
const unused = './src/unused-module.cjs';
// Bundled CommonJS code calls require, __filename and __dirname: an ES module has none of its own.
const banner = [
  "import { createRequire as __r } from 'node:module';",
  "import { fileURLToPath as __f } from 'node:url';",
  "import { dirname as __d } from 'node:path';",
  'const require = __r(import.meta.url);',
  'const __filename = __f(import.meta.url);',
  'const __dirname = __d(__filename);',
].join(' ');

rmSync('dist/chunks', { recursive: true, force: true });
await build({
  entryPoints: { berth: 'src/cli/bin.ts', index: 'src/index.ts' },
  bundle: true,
  splitting: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  outdir: 'dist',
  chunkNames: 'chunks/[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  alias: { ssh2: unused, '@grpc/grpc-js': unused, '@grpc/proto-loader': unused, protobufjs: unused },
  // Native modules, optional where they are required: without them each package uses its JS code.
  external: ['cpu-features', 'pg-native', '*.node'],
  banner: { js: banner },
  logLevel: 'warning',
});
