/**
 * A job's log: the last lines (GET /api/jobs/{id}/logs?tail=N), then new lines as they are written (the SSE
 * stream; polling where EventSource is missing or the stream breaks). Level filter and search live in the URL
 * (?level=WARNING&q=loss), so a refresh or a shared link shows the same view. The page only reads: closing it
 * changes nothing on the server.
 */
import { Badge, Button, Empty, Input, Select, Space, Switch, Typography } from 'antd';
import { DownloadOutlined } from '@ant-design/icons';
import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useSearchParams } from 'react-router-dom';
import { api, levelOf, normalizeLogLine, type LogLine } from '../api';
import { useI18n } from '../i18n';

export const LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;
const MAX_LINES = 10000;
const FIRST_LINES = 2000;
const POLL_MS = 2000;

const LEVEL_COLOR: Record<string, string> = {
  DEBUG: '#8c8c8c',
  INFO: '#d9d9d9',
  WARNING: '#faad14',
  ERROR: '#ff7875',
  CRITICAL: '#ff4d4f',
};

/** Lines at `level` or above (ALL: every line) that contain `query` (case-insensitive). */
export function filterLines(lines: LogLine[], level: string, query: string): LogLine[] {
  const minimum = LEVELS.indexOf(level as (typeof LEVELS)[number]);
  const needle = query.trim().toLowerCase();
  return lines.filter((line) => {
    if (minimum > 0 && LEVELS.indexOf(levelOf(line) as (typeof LEVELS)[number]) < minimum) return false;
    return !needle || line.text.toLowerCase().includes(needle);
  });
}

function highlight(text: string, query: string): ReactNode {
  const needle = query.trim();
  if (!needle) return text;
  const lower = text.toLowerCase();
  const parts: ReactNode[] = [];
  let from = 0;
  let at = lower.indexOf(needle.toLowerCase());
  while (at >= 0) {
    if (at > from) parts.push(text.slice(from, at));
    parts.push(
      <mark key={at} data-testid="log-match" style={{ background: '#ffe58f', color: '#000', padding: 0 }}>
        {text.slice(at, at + needle.length)}
      </mark>,
    );
    from = at + needle.length;
    at = lower.indexOf(needle.toLowerCase(), from);
  }
  if (from < text.length) parts.push(text.slice(from));
  return parts;
}

/** Append `incoming` to `lines`, skipping lines already held (same position n), keeping the last MAX_LINES. */
export function mergeLines(lines: LogLine[], incoming: LogLine[]): LogLine[] {
  const last = lines.length ? lines[lines.length - 1].n : undefined;
  const fresh = typeof last === 'number' ? incoming.filter((l) => typeof l.n !== 'number' || l.n > last) : incoming;
  if (!fresh.length) return lines;
  const merged = lines.concat(fresh);
  return merged.length > MAX_LINES ? merged.slice(merged.length - MAX_LINES) : merged;
}

export function parseEventData(data: string): LogLine[] {
  try {
    const value = JSON.parse(data) as unknown;
    if (Array.isArray(value)) return value.map((item) => normalizeLogLine(item));
    if (value && typeof value === 'object') return [normalizeLogLine(value)];
    return [{ text: String(value) }];
  } catch {
    return [{ text: data }];
  }
}

export default function LogViewer({ jobId, live }: { jobId: number | string; live: boolean }) {
  const { t } = useI18n();
  const [params, setParams] = useSearchParams();
  const level = params.get('level') ?? 'ALL';
  const query = params.get('q') ?? '';
  const [lines, setLines] = useState<LogLine[]>([]);
  const [connected, setConnected] = useState(false);
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLDivElement>(null);

  const setParam = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value && value !== 'ALL') next.set(key, value);
    else next.delete(key);
    setParams(next, { replace: true });
  };

  useEffect(() => {
    let closed = false;
    let source: EventSource | null = null;
    let timer: ReturnType<typeof setInterval> | undefined;
    const poll = () =>
      api
        .jobLogs(jobId, FIRST_LINES)
        .then((page) => !closed && setLines((held) => mergeLines(held, page.lines)))
        .catch(() => undefined);
    const startPolling = () => {
      if (!timer && live) timer = setInterval(poll, POLL_MS);
    };
    void api
      .jobLogs(jobId, FIRST_LINES)
      .then((page) => {
        if (closed) return;
        setLines(page.lines);
        if (!live) return;
        if (typeof EventSource === 'undefined') return startPolling();
        // go on from where the page read (the server's next_offset): no line twice, none missed
        source = new EventSource(api.jobLogStreamUrl(jobId, page.next_offset ?? 0), { withCredentials: true });
        const onLines = (event: MessageEvent<string>) => setLines((held) => mergeLines(held, parseEventData(event.data)));
        source.onopen = () => setConnected(true);
        source.addEventListener('line', onLines as EventListener);
        source.onmessage = onLines;
        source.addEventListener('end', () => {
          source?.close();
          setConnected(false);
        });
        source.onerror = () => {
          setConnected(false);
          if (source?.readyState === EventSource.CLOSED) startPolling(); // else the browser reconnects by itself
        };
      })
      .catch(() => startPolling());
    return () => {
      closed = true;
      source?.close();
      if (timer) clearInterval(timer);
      setConnected(false);
    };
  }, [jobId, live]);

  // the last MAX_LINES lines (the most the API gives at once), filtered as shown, as a text file
  const [downloading, setDownloading] = useState(false);
  const download = async () => {
    setDownloading(true);
    try {
      const page = await api.jobLogs(jobId, MAX_LINES, { level: level === 'ALL' ? undefined : level, search: query.trim() || undefined });
      const blob = new Blob([page.lines.map((line) => line.text).join('\n') + '\n'], { type: 'text/plain;charset=utf-8' });
      const link = document.createElement('a');
      link.href = URL.createObjectURL(blob);
      link.download = `job-${jobId}${level !== 'ALL' ? `-${level}` : ''}.log`;
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    } finally {
      setDownloading(false);
    }
  };

  const shown = useMemo(() => filterLines(lines, level, query), [lines, level, query]);

  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [shown, follow]);

  return (
    <div data-testid="log-viewer">
      <Space wrap style={{ marginBottom: 8 }}>
        <Select
          aria-label={t('logs.level')}
          data-testid="log-level"
          value={level}
          style={{ width: 140 }}
          onChange={(value) => setParam('level', value)}
          options={[{ value: 'ALL', label: `${t('logs.level')}: ${t('common.all')}` }, ...LEVELS.map((l) => ({ value: l, label: `≥ ${l}` }))]}
        />
        <Input.Search
          allowClear
          aria-label={t('logs.search')}
          data-testid="log-search"
          placeholder={t('logs.search')}
          defaultValue={query}
          style={{ width: 260 }}
          onChange={(event) => setParam('q', event.target.value)}
          onSearch={(value) => setParam('q', value)}
        />
        <Space size={4}>
          <Switch size="small" checked={follow} onChange={setFollow} />
          <Typography.Text>{t('logs.follow')}</Typography.Text>
        </Space>
        <Button icon={<DownloadOutlined />} onClick={() => void download()} loading={downloading} data-testid="log-download">
          {t('logs.download')}
        </Button>
        {live && <Badge status={connected ? 'processing' : 'default'} text={connected ? t('logs.live') : t('logs.offline')} />}
        <Typography.Text type="secondary" data-testid="log-count">
          {t('logs.shown', { shown: shown.length, total: lines.length })}
        </Typography.Text>
      </Space>
      <div
        ref={box}
        style={{
          background: '#141414',
          color: '#d9d9d9',
          fontFamily: 'ui-monospace, Menlo, Consolas, monospace',
          fontSize: 12,
          lineHeight: 1.6,
          padding: 12,
          borderRadius: 6,
          height: 420,
          overflow: 'auto',
          whiteSpace: 'pre-wrap',
          wordBreak: 'break-all',
        }}
      >
        {shown.length === 0 ? (
          <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={<span style={{ color: '#8c8c8c' }}>{t('logs.empty')}</span>} />
        ) : (
          shown.map((line, index) => {
            const lineLevel = levelOf(line);
            return (
              <div key={line.n ?? index} data-testid="log-line" data-level={lineLevel} style={{ color: LEVEL_COLOR[lineLevel] ?? '#d9d9d9' }}>
                {highlight(line.text, query)}
              </div>
            );
          })
        )}
      </div>
    </div>
  );
}
