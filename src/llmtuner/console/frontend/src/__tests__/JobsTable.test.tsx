import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { JobSummary } from '../api';
import JobsTable from '../components/JobsTable';
import JobsPage from '../pages/JobsPage';
import { installFakeFetch } from '../test/fakeFetch';
import { renderAt, VIEWER } from '../test/render';

const JOBS: JobSummary[] = [
  { id: 1, name: 'sft-a', kind: 'train', status: 'COMPLETED', created_at: '2025-01-01T08:00:00' },
  { id: 2, name: 'sft-b', kind: 'train', status: 'RUNNING', created_at: '2025-01-01T09:00:00', started_at: '2025-01-01T09:00:05' },
  { id: 3, name: 'eval-c', kind: 'eval', status: 'FAILED', created_at: '2025-01-01T10:00:00' },
  { id: 4, name: 'sft-d', kind: 'train', status: 'STOPPED', created_at: '2025-01-01T11:00:00' },
  { id: 5, name: 'export-e', kind: 'export', status: 'PENDING', created_at: '2025-01-01T12:00:00' },
  { id: 6, name: 'sft-f', kind: 'train', status: 'PREPARING', created_at: '2025-01-01T13:00:00' },
];

function tagOf(name: string): HTMLElement {
  const row = screen.getByText(name).closest('tr')!;
  return within(row).getByTestId('status-tag');
}

describe('JobsTable', () => {
  it('shows every status as a coloured tag with its Chinese label', () => {
    renderAt('/jobs', <JobsTable jobs={JOBS} />);
    const expected: Record<string, [string, string]> = {
      'sft-a': ['已完成', 'ant-tag-success'],
      'sft-b': ['运行中', 'ant-tag-processing'],
      'eval-c': ['失败', 'ant-tag-error'],
      'sft-d': ['已停止', 'ant-tag-warning'],
      'export-e': ['排队中', 'ant-tag-default'],
      'sft-f': ['准备中', 'ant-tag-processing'],
    };
    for (const [name, [label, className]] of Object.entries(expected)) {
      const tag = tagOf(name);
      expect(tag).toHaveTextContent(label);
      expect(tag.className).toContain(className);
    }
    expect(tagOf('sft-b').dataset.status).toBe('RUNNING');
    expect(screen.getByText('sft-a').closest('a')).toHaveAttribute('href', '/jobs/1');
  });

  it('uses English labels after the switch', () => {
    renderAt('/jobs', <JobsTable jobs={JOBS} />, { lang: 'en' });
    expect(tagOf('sft-a')).toHaveTextContent('Completed');
    expect(tagOf('sft-d')).toHaveTextContent('Stopped');
  });

  it('filters by the status in the URL, and hides the create button from a viewer', async () => {
    installFakeFetch({ 'GET /api/jobs': () => JOBS });
    renderAt('/jobs?status=RUNNING', <JobsPage />, { user: VIEWER });
    expect(await screen.findByText('sft-b')).toBeInTheDocument();
    expect(screen.queryByText('sft-a')).not.toBeInTheDocument();
    expect(screen.queryByTestId('new-job')).not.toBeInTheDocument();
  });
});
