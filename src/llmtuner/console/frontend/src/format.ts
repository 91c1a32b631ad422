/** Small formatting helpers shared by the pages. */
import dayjs from 'dayjs';

export function formatBytes(bytes?: number | null): string {
  if (bytes === undefined || bytes === null || Number.isNaN(bytes)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function formatCount(n?: number | null): string {
  if (n === undefined || n === null) return '—';
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

/** The server's times are UTC; a time without a zone is read as UTC and shown in local time. */
export function parseTime(value?: string | null): dayjs.Dayjs | null {
  if (!value) return null;
  const zoned = /([zZ]|[+-]\d\d:?\d\d)$/.test(value) ? value : `${value}Z`;
  const parsed = dayjs(zoned);
  return parsed.isValid() ? parsed : null;
}

export function formatTime(value?: string | null): string {
  const parsed = parseTime(value);
  return parsed ? parsed.format('YYYY-MM-DD HH:mm:ss') : '—';
}

export function formatSeconds(total: number): string {
  let seconds = Math.max(0, Math.round(total));
  const h = Math.floor(seconds / 3600);
  seconds -= h * 3600;
  const m = Math.floor(seconds / 60);
  const s = seconds - m * 60;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

export function formatDuration(start?: string | null, end?: string | null): string {
  const from = parseTime(start);
  if (!from) return '—';
  const to = parseTime(end) ?? dayjs();
  return formatSeconds(to.diff(from, 'second', true));
}

export function percent(value?: number | null): number {
  if (value === undefined || value === null || Number.isNaN(value)) return 0;
  return Math.round(Math.max(0, Math.min(100, value)) * 10) / 10;
}
