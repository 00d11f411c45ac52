const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "90s", "30m", "2h", "1d", or a number of seconds. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') return value;
  const match = /^(\d+)([smhd])$/.exec(value);
  if (!match) throw new Error(`not a duration: ${value}`);
  return Number(match[1]) * (UNITS[match[2] as string] ?? 1);
}

/** "in 29m", "3h ago": how far a moment is from now, in its largest unit. */
export function relative(iso: string, now = Date.now()): string {
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  const size = Math.abs(seconds);
  const text =
    size < 60
      ? `${size}s`
      : size < 3600
        ? `${Math.floor(size / 60)}m`
        : size < 86400
          ? `${Math.floor(size / 3600)}h`
          : `${Math.floor(size / 86400)}d`;
  // A moment already past reads "ago" even when it rounds to 0 s.
  return Date.parse(iso) > now ? `in ${text}` : `${text} ago`;
}
