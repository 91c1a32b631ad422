import { Button, Card, Input, Select, Space } from 'antd';
import { PlusOutlined, ReloadOutlined } from '@ant-design/icons';
import { Link, useSearchParams } from 'react-router-dom';
import { api, JOB_KINDS, JOB_STATUSES } from '../api';
import { useAuth } from '../auth';
import ErrorAlert from '../components/ErrorAlert';
import JobsTable from '../components/JobsTable';
import { useLoad } from '../hooks';
import { useI18n, type MessageKey } from '../i18n';

/** All jobs (any number run at once; the server schedules them). Filters are in the URL: ?status=RUNNING&kind=train&q=. */
export default function JobsPage() {
  const { t } = useI18n();
  const { canWrite } = useAuth();
  const [params, setParams] = useSearchParams();
  const status = params.get('status') ?? '';
  const kind = params.get('kind') ?? '';
  const q = params.get('q') ?? '';
  const { data, error, loading, reload } = useLoad(() => api.listJobs({ status, kind }), [status, kind], 3000);
  const jobs = (data ?? []).filter((job) => (!status || job.status === status) && (!kind || job.kind === kind)).filter((job) => !q || job.name.toLowerCase().includes(q.toLowerCase()) || String(job.id) === q);

  const set = (key: string, value?: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    setParams(next, { replace: true });
  };

  return (
    <Card
      title={t('jobs.list')}
      size="small"
      extra={
        <Space wrap>
          <Select
            allowClear
            placeholder={t('jobs.status')}
            value={status || undefined}
            onChange={(value) => set('status', value)}
            style={{ width: 130 }}
            data-testid="filter-status"
            options={JOB_STATUSES.map((value) => ({ value, label: t(`status.${value}` as MessageKey) }))}
          />
          <Select
            allowClear
            placeholder={t('jobs.kind')}
            value={kind || undefined}
            onChange={(value) => set('kind', value)}
            style={{ width: 110 }}
            options={JOB_KINDS.map((value) => ({ value, label: t(`jobs.kind.${value}` as MessageKey) }))}
          />
          <Input.Search allowClear placeholder={t('jobs.searchPlaceholder')} defaultValue={q} onSearch={(value) => set('q', value)} style={{ width: 200 }} />
          <Button icon={<ReloadOutlined />} onClick={() => void reload()}>{t('common.refresh')}</Button>
          {canWrite && (
            <Link to="/jobs/new">
              <Button type="primary" icon={<PlusOutlined />} data-testid="new-job">{t('jobs.new')}</Button>
            </Link>
          )}
        </Space>
      }
    >
      <ErrorAlert error={error} />
      <JobsTable jobs={jobs} loading={loading && !data} />
    </Card>
  );
}
