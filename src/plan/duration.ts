const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * The longest duration berth takes (24 days): Node's timers hold at most 2^31 - 1 ms (about 24.8 days),
 * and a longer one fires at once.
 */
export const LONGEST_DURATION_SECONDS = 24 * 86400;
export const TOO_LONG = "expected at most 24d (berth's timers cannot wait longer)";

/** Whether a duration (as berth.yaml or a task writes it) is within what berth can wait. */
export function withinLongest(value: string | number): boolean {
  try {
    return parseDuration(value) <= LONGEST_DURATION_SECONDS;
  } catch {
    return true; // not a duration at all: the format check says so
  }
}

/** "90s", "30m", "2h", "1d", or a number of seconds. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') return value;
  const match = /^(\d+)([smhd])$/.exec(value);
  if (!match) throw new Error(`not a duration: ${value}`);
  return Number(match[1]) * (UNITS[match[2] as string] ?? 1);
}

/** "45s", "29m", "3h", "2d": a span of time in its largest unit. */
export function span(milliseconds: number): string {
  const size = Math.abs(Math.round(milliseconds / 1000));
  if (size < 60) return `${size}s`;
  if (size < 3600) return `${Math.floor(size / 60)}m`;
  if (size < 86400) return `${Math.floor(size / 3600)}h`;
  return `${Math.floor(size / 86400)}d`;
}

/** "in 29m", "3h ago": how far a moment is from now. */
export function relative(iso: string, now: number): string {
  const text = span(Date.parse(iso) - now);
  // A moment already past reads "ago" even when it rounds to 0 s.
  return Date.parse(iso) > now ? `in ${text}` : `${text} ago`;
}
