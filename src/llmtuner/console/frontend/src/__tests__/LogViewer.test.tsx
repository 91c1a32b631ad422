import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { filterLines } from '../components/LogViewer';
import LogViewer from '../components/LogViewer';
import { installFakeFetch } from '../test/fakeFetch';
import { renderAt } from '../test/render';

const LOG = [
  '2025-01-01 08:00:00 INFO llmtuner.train: loading the embedded model',
  '2025-01-01 08:00:01 DEBUG llmtuner.data: tokenizing 20 samples',
  '2025-01-01 08:00:02 WARNING llmtuner.train: cutoff_len 128 truncates 3 samples',
  "2025-01-01 08:00:03 INFO llmtuner.train: {'loss': 2.31, 'learning_rate': 0.002, 'step': 1}",
  '2025-01-01 08:00:04 ERROR llmtuner.train: checkpoint folder is not writable',
  "2025-01-01 08:00:05 INFO llmtuner.train: {'loss': 1.87, 'learning_rate': 0.0018, 'step': 2}",
];

function lines() {
  return screen.queryAllByTestId('log-line').map((el) => el.textContent);
}

async function openLevels() {
  // antd's Select opens on mousedown of its selector
  fireEvent.mouseDown(within(screen.getByTestId('log-level')).getByRole('combobox'));
}

describe('LogViewer', () => {
  it('filters by level (that level and above) and keeps the choice in the URL', async () => {
    const fake = installFakeFetch({ 'GET /api/jobs/:id/logs': () => ({ lines: LOG.map((text, n) => ({ offset: n * 100, level: /DEBUG|WARNING|ERROR/.exec(text)?.[0] ?? 'INFO', text })), next_offset: 600, status: 'COMPLETED' }) });
    renderAt('/jobs/4?tab=logs', <LogViewer jobId={4} live={false} />);
    await waitFor(() => expect(lines()).toHaveLength(6));
    expect(fake.callsTo('GET /api/jobs/:id/logs')[0].path).toBe('/api/jobs/4/logs');

    await openLevels();
    await userEvent.click(await screen.findByText('≥ WARNING'));
    await waitFor(() => expect(lines()).toHaveLength(2));
    expect(lines()[0]).toContain('truncates 3 samples');
    expect(lines()[1]).toContain('not writable');
    expect(screen.getByTestId('log-count')).toHaveTextContent('显示 2 / 6 行');
    expect(screen.getByTestId('location')).toHaveTextContent('level=WARNING');
  });

  it('searches case-insensitively, marks the matches, and reads ?q= from the URL', async () => {
    installFakeFetch({ 'GET /api/jobs/:id/logs': () => ({ lines: LOG.map((text, n) => ({ offset: n * 100, level: 'INFO', text })), next_offset: 600 }) });
    renderAt('/jobs/4?tab=logs&q=LOSS', <LogViewer jobId={4} live={false} />);
    await waitFor(() => expect(lines()).toHaveLength(2));
    expect(screen.getAllByTestId('log-match').map((el) => el.textContent)).toEqual(['loss', 'loss']);

    const search = screen.getByPlaceholderText('搜索日志');
    await userEvent.clear(search);
    await userEvent.type(search, 'checkpoint');
    await waitFor(() => expect(lines()).toHaveLength(1));
    expect(screen.getByTestId('location')).toHaveTextContent('q=checkpoint');
  });

  it('downloads the log as filtered (level and search go to the server)', async () => {
    const fake = installFakeFetch({ 'GET /api/jobs/:id/logs': () => ({ lines: [], next_offset: 0 }) });
    const created: string[] = [];
    vi.stubGlobal('URL', Object.assign(URL, { createObjectURL: () => 'blob:log', revokeObjectURL: () => undefined }));
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      created.push(this.download);
    });
    renderAt('/?level=ERROR&q=oom', <LogViewer jobId={9} live={false} />);
    expect(await screen.findByText('暂无日志')).toBeInTheDocument();
    await userEvent.click(screen.getByTestId('log-download'));
    await waitFor(() => expect(created).toEqual(['job-9-ERROR.log']));
    const last = fake.callsTo('GET /api/jobs/:id/logs').at(-1)!;
    expect(last.query.get('tail')).toBe('10000');
    expect(last.query.get('level')).toBe('ERROR');
    expect(last.query.get('search')).toBe('oom');
    click.mockRestore();
  });

  it('follows a running job over SSE from the next_offset, without repeating lines', async () => {
    const opened: FakeEventSource[] = [];
    class FakeEventSource {
      static CLOSED = 2;
      readyState = 1;
      url: string;
      listeners: Record<string, Array<(event: MessageEvent<string>) => void>> = {};
      onopen: (() => void) | null = null;
      onmessage: ((event: MessageEvent<string>) => void) | null = null;
      onerror: (() => void) | null = null;
      constructor(url: string) {
        this.url = url;
        opened.push(this);
      }
      addEventListener(type: string, listener: (event: MessageEvent<string>) => void) {
        (this.listeners[type] ??= []).push(listener);
      }
      emit(type: string, data: unknown) {
        for (const listener of this.listeners[type] ?? []) listener({ data: JSON.stringify(data) } as MessageEvent<string>);
      }
      close() {
        this.readyState = 2;
      }
    }
    vi.stubGlobal('EventSource', FakeEventSource);
    installFakeFetch({ 'GET /api/jobs/:id/logs': () => ({ lines: [{ offset: 0, level: 'INFO', text: 'first' }], next_offset: 6, status: 'RUNNING' }) });
    renderAt('/', <LogViewer jobId={5} live />);
    await waitFor(() => expect(opened).toHaveLength(1));
    expect(opened[0].url).toBe('/api/jobs/5/logs/stream?offset=6');
    act(() => {
      opened[0].emit('line', { offset: 0, level: 'INFO', text: 'first' });
      opened[0].emit('line', { offset: 6, level: 'WARNING', text: 'second' });
    });
    await waitFor(() => expect(lines()).toEqual(['first', 'second']));
    act(() => opened[0].emit('end', { status: 'COMPLETED' }));
    expect(opened[0].readyState).toBe(2);
  });

  it('filterLines: levels read from the text when the server gives none', () => {
    const parsed = LOG.map((text) => ({ text }));
    expect(filterLines(parsed, 'ERROR', '')).toHaveLength(1);
    expect(filterLines(parsed, 'INFO', '')).toHaveLength(5);
    expect(filterLines(parsed, 'ALL', 'samples')).toHaveLength(2);
    expect(filterLines([{ text: 'plain', level: 'warning' }], 'WARNING', '')).toHaveLength(1);
  });
});
