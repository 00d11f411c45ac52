import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Every module a file loads: static imports and re-exports (one line or many), side-effect imports, import(). */
function importsOf(text: string): string[] {
  const patterns = [
    /^\s*(?:import|export)\b[^'"]*?\bfrom\s+['"]([^'"]+)['"]/gms,
    /^\s*import\s+['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((pattern) => [...text.matchAll(pattern)].map((m) => m[1] ?? ''));
}

/** Imports that load nothing at run time (types), or only pure functions of an outside-world module. */
const PURE = [/^import type [^;]*;$/gms, /^import \{ isIP(v4|v6)? \} from 'node:net';$/gm];
const imports = (file: string) =>
  importsOf(PURE.reduce((text, pure) => text.replace(pure, ''), readFileSync(file, 'utf8')));

function breaches(dir: string, forbidden: RegExp): string[] {
  return files(dir).flatMap((file) =>
    imports(file)
      .filter((spec) => forbidden.test(spec))
      .map((spec) => `${file}: ${spec}`),
  );
}

/** Node's and npm's ways to the outside world, which only adapters/ may hold. */
const OUTSIDE =
  /^(node:)?(fs|fs\/promises|child_process|net|dgram|http|https)$|^(dockerode|execa|simple-git|pg|ioredis|bullmq|get-port|proper-lockfile)$/;

describe('the layers (README, Architecture)', () => {
  it('reads every kind of import, so none slips past the checks below', () => {
    const text = [
      "import { a } from 'one';",
      "import {\n  b,\n  c,\n} from 'two';",
      "import 'three';",
      "export { d } from 'four';",
      "const e = await import('five');",
      "const f = await import(\n  'six'\n);",
    ].join('\n');
    expect(importsOf(text).sort()).toEqual(['five', 'four', 'one', 'six', 'three', 'two']);
  });

  it('core/ reaches the outside world only through adapters', () => {
    expect(breaches('src/core', OUTSIDE)).toEqual([]);
  });

  it('plan/ does no I/O and imports no adapter, state or story', () => {
    expect(
      breaches('src/plan', new RegExp(`${OUTSIDE.source}|adapters/|state/|core/|cli/|ui/|mcp/`)),
    ).toEqual([]);
  });

  it('the CLI, the MCP server and the page call the library: no adapter, no state (the CLI starts the other two)', () => {
    expect(breaches('src/cli', /adapters\/|state\//)).toEqual([]);
    expect(breaches('src/mcp', new RegExp(`adapters/|state/|/cli/|/ui/|${OUTSIDE.source}`))).toEqual([]);
    expect(breaches('src/ui', new RegExp(`adapters/|state/|/cli/|/mcp/|${OUTSIDE.source}`))).toEqual([]);
  });

  it('below the CLI, the environment is read in two places: the Runtime (decisions) and what programs inherit', () => {
    const readers = files('src')
      .filter((file) => !file.startsWith('src/cli/'))
      .filter((file) => /\bprocess\.env\b/.test(readFileSync(file, 'utf8')));
    expect(readers.sort()).toEqual(['src/adapters/programs.ts', 'src/runtime.ts']);
  });

  it('every program runs through adapters/programs.ts: no other module starts a process', () => {
    const starters = breaches('src', /^(node:)?child_process$|^execa$/).filter(
      (breach) => !breach.startsWith('src/adapters/programs.ts'),
    );
    expect(starters).toEqual([]);
  });
});
