import { parseDocument } from 'yaml';
import { UsageError } from '../errors.js';

/**
 * How many aliases a file may use: YAML's anchors are fine in a config, but each alias is expanded, and
 * a few nested ones (the "billion laughs") expand to more than any machine holds.
 */
const MAX_ALIASES = 100;

/**
 * Reads a YAML file's text into plain values: one clear UsageError (with `code`) for bad syntax, a key
 * given twice, or aliases that would expand without bound. The one place berth parses YAML it is given.
 */
export function readYaml(
  text: string,
  source: string,
  code: string,
  options: { merge?: boolean } = {},
): unknown {
  const document = parseDocument(text, {
    prettyErrors: true,
    uniqueKeys: true,
    merge: options.merge ?? false,
  });
  if (document.errors.length > 0) {
    const first = document.errors[0];
    const where = first?.linePos?.[0]
      ? ` at line ${first.linePos[0].line}, column ${first.linePos[0].col}`
      : '';
    throw new UsageError(code, `${source} is not valid YAML${where}: ${first?.code ?? 'parse error'}`, {
      hint: 'fix the YAML syntax (indentation, quotes, colons)',
    });
  }
  try {
    return document.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (error) {
    throw new UsageError(
      code,
      `${source} uses YAML aliases that expand without bound (${(error as Error).message})`,
      {
        hint: `use at most ${MAX_ALIASES} aliases, and none that nest others many times over`,
      },
    );
  }
}
