import { SluiceError } from "./errors.js";

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const PART = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/y;

/**
 * Parses a duration written like `250ms`, `5s`, `10m`, `168h`, `3d`, `1w` (also combined: `1h30m`,
 * `1d 2h`) into milliseconds. `where` names the setting in the error message.
 *
 * @example
 * parseDuration("10m"); // 600000
 * parseDuration("1h30m", "pipelines.orders.late_data_window"); // 5400000
 */
export function parseDuration(text: string, where?: string): number {
  const source = String(text).trim();
  let total = 0;
  let position = 0;
  let parts = 0;
  while (position < source.length) {
    PART.lastIndex = position;
    const match = PART.exec(source);
    if (!match) break;
    total += Number(match[1]) * (UNIT_MS[match[2]!] ?? Number.NaN);
    position = PART.lastIndex;
    parts++;
    while (source[position] === " ") position++;
  }
  if (parts === 0 || position !== source.length || !Number.isFinite(total)) {
    const prefix = where ? `${where}: ` : "";
    throw new SluiceError(
      "CONFIG_INVALID",
      `${prefix}"${text}" is not a duration; write it like 250ms, 5s, 10m, 168h, 3d or 1w`,
    );
  }
  return Math.round(total);
}

const FORMAT_UNITS: readonly (readonly [string, number])[] = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000],
];

/**
 * Formats milliseconds for humans, with at most two units: `250ms`, `1.5s`, `10m`, `1h 30m`, `3d 4h`.
 * The result parses back with {@link parseDuration} (truncated to the two largest units).
 *
 * @example
 * formatDuration(5_400_000); // "1h 30m"
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) {
    const seconds = Math.floor(ms / 100) / 10;
    return `${seconds}s`;
  }
  const index = FORMAT_UNITS.findIndex(([, size]) => ms >= size);
  const [unit, size] = FORMAT_UNITS[index]!;
  const count = Math.floor(ms / size);
  const parts = [`${count}${unit}`];
  const next = FORMAT_UNITS[index + 1];
  if (next) {
    const nextCount = Math.floor((ms - count * size) / next[1]);
    if (nextCount > 0) parts.push(`${nextCount}${next[0]}`);
  }
  return parts.join(" ");
}
