import { Table, Tag } from 'antd';
import { Link } from 'react-router-dom';
import type { JobSummary } from '../api';
import { formatDuration, formatTime } from '../format';
import { useI18n, type MessageKey } from '../i18n';
import StatusTag from './StatusTag';

const KIND_COLOR: Record<string, string> = { train: 'geekblue', eval: 'purple', export: 'cyan' };

export default function JobsTable({ jobs, loading }: { jobs: JobSummary[]; loading?: boolean }) {
  const { t } = useI18n();
  return (
    <Table<JobSummary>
      rowKey="id"
      size="small"
      loading={loading}
      dataSource={jobs}
      data-testid="jobs-table"
      pagination={{ pageSize: 20, hideOnSinglePage: true }}
      columns={[
        { title: 'ID', dataIndex: 'id', width: 60, sorter: (a, b) => a.id - b.id, defaultSortOrder: 'descend' },
        { title: t('common.name'), dataIndex: 'name', render: (name: string, job) => <Link to={`/jobs/${job.id}`}>{name}</Link> },
        { title: t('jobs.kind'), dataIndex: 'kind', width: 80, render: (kind: string) => <Tag color={KIND_COLOR[kind]}>{t(`jobs.kind.${kind}` as MessageKey)}</Tag> },
        { title: t('jobs.status'), dataIndex: 'status', width: 120, render: (status: string) => <StatusTag status={status} /> },
        { title: t('common.createdAt'), dataIndex: 'created_at', width: 170, render: (value: string) => formatTime(value) },
        { title: t('jobs.started'), dataIndex: 'started_at', width: 170, render: (value: string) => formatTime(value) },
        { title: t('jobs.duration'), key: 'duration', width: 90, render: (_: unknown, job) => formatDuration(job.started_at, job.finished_at) },
        { title: t('job.devices'), dataIndex: 'devices', width: 90, render: (value?: Array<string | number>) => (value?.length ? value.join(',') : '—') },
      ]}
    />
  );
}
