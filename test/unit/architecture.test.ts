import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const imports = (file: string) =>
  [...readFileSync(file, 'utf8').matchAll(/from '([^']+)';$/gm)].map((m) => m[1] ?? '');

describe('the layers (README, Architecture)', () => {
  it('core/ reaches the outside world only through adapters', () => {
    const forbidden = /^(node:fs|node:child_process|dockerode|execa|simple-git)$/;
    const found = files('src/core').flatMap((file) =>
      imports(file)
        .filter((spec) => forbidden.test(spec))
        .map((spec) => `${file}: ${spec}`),
    );
    expect(found).toEqual([]);
  });

  it('plan/ does no I/O and imports no adapter or story', () => {
    const found = files('src/plan').flatMap((file) =>
      imports(file)
        .filter((spec) => /^node:(fs|child_process|net)$|adapters\/|core\/|^dockerode$|^execa$/.test(spec))
        .map((spec) => `${file}: ${spec}`),
    );
    expect(found).toEqual([]);
  });
});
