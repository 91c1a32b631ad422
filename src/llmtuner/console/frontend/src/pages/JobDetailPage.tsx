import { Alert, App, Button, Card, Col, Descriptions, Popconfirm, Progress, Row, Space, Table, Tabs, Tag, Timeline, Typography } from 'antd';
import { ArrowLeftOutlined, CopyOutlined, DeleteOutlined, MessageOutlined, RedoOutlined, StopOutlined } from '@ant-design/icons';
import { useState } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { stringify } from 'yaml';
import { ACTIVE_STATUSES, api, type ApiError, type Job, type JobStatus } from '../api';
import { useAuth } from '../auth';
import ErrorAlert from '../components/ErrorAlert';
import EvalResults from '../components/EvalResults';
import LogViewer from '../components/LogViewer';
import MetricsChart from '../components/MetricsChart';
import StatusTag from '../components/StatusTag';
import { formatDuration, formatSeconds, formatTime } from '../format';
import { asApiError, useLoad } from '../hooks';
import { useI18n, type MessageKey } from '../i18n';

const RESTARTABLE: JobStatus[] = ['FAILED', 'STOPPED'];
const TIMELINE_COLOR: Record<string, string> = { COMPLETED: 'green', FAILED: 'red', STOPPED: 'orange', RUNNING: 'blue' };

function History({ job }: { job: Job }) {
  const { t } = useI18n();
  const events = job.history ?? [];
  if (!events.length) return <Typography.Text type="secondary">{t('common.none')}</Typography.Text>;
  return (
    <Timeline
      data-testid="status-history"
      items={events.map((event) => ({
        color: TIMELINE_COLOR[event.to_status] ?? 'gray',
        children: (
          <div>
            <Space>
              <StatusTag status={event.to_status} />
              <Typography.Text type="secondary">{formatTime(event.at)}</Typography.Text>
            </Space>
            {event.reason && <div style={{ color: '#595959', whiteSpace: 'pre-wrap' }}>{event.reason}</div>}
          </div>
        ),
      }))}
    />
  );
}

export default function JobDetailPage() {
  const { id = '' } = useParams();
  const { t } = useI18n();
  const { message } = App.useApp();
  const { canWrite } = useAuth();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const tab = params.get('tab') ?? 'overview';
  const [actionError, setActionError] = useState<ApiError | null>(null);
  const [acting, setActing] = useState<string | null>(null);
  const job = useLoad(() => api.getJob(id), [id], 2000);
  const active = !!job.data && ACTIVE_STATUSES.includes(job.data.status);
  const metrics = useLoad(() => api.jobMetrics(id), [id, active], active ? 2000 : undefined);
  const j = job.data;

  const act = async (what: 'stop' | 'restart' | 'delete') => {
    setActionError(null);
    setActing(what);
    try {
      if (what === 'stop') {
        await api.stopJob(id);
        message.info(t('job.stopped'));
      } else if (what === 'restart') {
        await api.restartJob(id);
        message.info(t('job.restarted'));
      } else {
        await api.deleteJob(id);
        message.success(t('common.deleted'));
        navigate('/jobs');
        return;
      }
      await job.reload();
    } catch (err) {
      setActionError(asApiError(err));
    } finally {
      setActing(null);
    }
  };

  const setTab = (key: string) => {
    const next = new URLSearchParams(params);
    if (key === 'overview') next.delete('tab');
    else next.set('tab', key);
    setParams(next, { replace: true });
  };

  if (!j) {
    return (
      <Space direction="vertical" style={{ width: '100%' }}>
        <Link to="/jobs"><ArrowLeftOutlined /> {t('common.back')}</Link>
        <ErrorAlert error={job.error} />
        {!job.error && <Card loading />}
      </Space>
    );
  }

  const points = metrics.data?.points ?? [];
  const last = points.length ? points[points.length - 1] : undefined;
  const totalSteps = metrics.data?.total_steps ?? last?.total_steps ?? undefined;
  const chart = (
    <Card size="small" title={<Space>{t('job.loss')} / {t('job.lr')}{active && <Tag color="processing">{t('job.live')}</Tag>}</Space>} data-testid="metrics-card">
      <MetricsChart points={points} />
      {last && (
        <Space direction="vertical" style={{ width: '100%' }} size={0}>
          {totalSteps && (
            <Progress percent={Math.min(100, Math.round((last.step / totalSteps) * 1000) / 10)} size="small" status={active ? 'active' : j.status === 'COMPLETED' ? 'success' : 'normal'} data-testid="job-progress" />
          )}
          <Typography.Text type="secondary">
            {t('job.step')} {last.step}
            {totalSteps ? ` / ${totalSteps}` : ''}
            {typeof last.loss === 'number' && ` · loss ${last.loss.toFixed(4)}`}
            {typeof last.learning_rate === 'number' && ` · lr ${last.learning_rate.toExponential(2)}`}
            {typeof metrics.data?.steps_per_second === 'number' && ` · ${metrics.data.steps_per_second.toFixed(2)} steps/s`}
            {active && typeof last.eta_s === 'number' && ` · ETA ${formatSeconds(last.eta_s)}`}
          </Typography.Text>
        </Space>
      )}
    </Card>
  );

  return (
    <Space direction="vertical" size="middle" style={{ width: '100%' }} data-testid="job-detail" data-status={j.status}>
      <Link to="/jobs"><ArrowLeftOutlined /> {t('common.back')}</Link>
      <Card
        size="small"
        title={
          <Space>
            <Typography.Text strong style={{ fontSize: 16 }}>#{j.id} {j.name}</Typography.Text>
            <Tag>{t(`jobs.kind.${j.kind}` as MessageKey)}</Tag>
            <StatusTag status={j.status} />
            {j.stop_requested && active && <Tag color="orange" data-testid="stopping">{t('job.stopping')}</Tag>}
          </Space>
        }
        extra={
          <Space wrap>
            {canWrite && active && !j.stop_requested && (
              <Popconfirm title={t('job.stopConfirm')} onConfirm={() => act('stop')} okText={t('common.ok')} cancelText={t('common.cancel')}>
                <Button danger icon={<StopOutlined />} loading={acting === 'stop'} data-testid="job-stop">{t('job.stop')}</Button>
              </Popconfirm>
            )}
            {canWrite && RESTARTABLE.includes(j.status) && (
              <Button icon={<RedoOutlined />} loading={acting === 'restart'} onClick={() => act('restart')} data-testid="job-restart">{t('job.restart')}</Button>
            )}
            {j.kind === 'serve' && j.status === 'RUNNING' && (
              <Link to={`/playground?job=${j.id}`} data-testid="job-open-playground">
                <Button icon={<MessageOutlined />}>{t('job.openPlayground')}</Button>
              </Link>
            )}
            {canWrite && (
              <Link to={`/jobs/new?kind=${j.kind}&from=${j.id}`}>
                <Button icon={<CopyOutlined />}>{t('job.clone')}</Button>
              </Link>
            )}
            {canWrite && !active && (
              <Popconfirm title={t('common.confirmDelete')} onConfirm={() => act('delete')} okText={t('common.ok')} cancelText={t('common.cancel')}>
                <Button danger type="text" icon={<DeleteOutlined />} loading={acting === 'delete'} data-testid="job-delete">{t('common.delete')}</Button>
              </Popconfirm>
            )}
          </Space>
        }
      >
        <ErrorAlert error={actionError} />
        {active && <Alert type="info" showIcon message={t('job.serverRuns')} style={{ marginBottom: 12 }} />}
        {j.error && <Alert type="error" showIcon message={t('job.error')} description={<pre style={{ whiteSpace: 'pre-wrap', margin: 0 }}>{j.error}</pre>} style={{ marginBottom: 12 }} data-testid="job-error" />}
        <Descriptions size="small" column={{ xs: 1, md: 2, xl: 4 }}>
          <Descriptions.Item label={t('common.createdAt')}>{formatTime(j.created_at)}</Descriptions.Item>
          <Descriptions.Item label={t('jobs.started')}>{formatTime(j.started_at)}</Descriptions.Item>
          <Descriptions.Item label={t('jobs.finished')}>{formatTime(j.finished_at)}</Descriptions.Item>
          <Descriptions.Item label={t('jobs.duration')}>{formatDuration(j.started_at, j.finished_at)}</Descriptions.Item>
          <Descriptions.Item label={t('job.devices')}>{j.devices?.length ? j.devices.join(', ') : '—'}</Descriptions.Item>
          <Descriptions.Item label={t('job.exitCode')}>{j.exit_code ?? '—'}</Descriptions.Item>
          <Descriptions.Item label={t('job.attempts')}>{j.attempts ?? '—'}</Descriptions.Item>
          <Descriptions.Item label={t('job.outputDir')} span="filled">
            {j.output_dir ? <Typography.Text code copyable style={{ fontSize: 12 }}>{j.output_dir}</Typography.Text> : '—'}
          </Descriptions.Item>
        </Descriptions>
      </Card>
      <Tabs
        activeKey={tab}
        onChange={setTab}
        items={[
          {
            key: 'overview',
            label: t('job.overview'),
            children: (
              <Row gutter={[16, 16]}>
                <Col xs={24} xl={16}>
                  {j.kind === 'eval' ? <EvalResults metrics={metrics.data} jobId={j.id} /> : chart}
                </Col>
                <Col xs={24} xl={8}>
                  <Card size="small" title={t('job.history')}>
                    <History job={j} />
                  </Card>
                </Col>
              </Row>
            ),
          },
          { key: 'logs', label: t('job.logs'), children: <LogViewer jobId={j.id} live={active} /> },
          {
            key: 'metrics',
            label: t('job.metrics'),
            children: (
              <Space direction="vertical" style={{ width: '100%' }}>
                {chart}
                {points.length > 0 && (
                  <Table
                    size="small"
                    rowKey="step"
                    dataSource={points}
                    pagination={{ pageSize: 10, hideOnSinglePage: true }}
                    columns={Object.keys(points.reduce((all, p) => ({ ...all, ...p }), {})).filter((key) => key !== 'learning_rate' || !points.some((p) => typeof p.lr === 'number')).map((key) => ({
                      title: key,
                      dataIndex: key,
                      render: (value: unknown) => (typeof value === 'number' ? Number(value.toPrecision(5)) : String(value ?? '')),
                    }))}
                  />
                )}
              </Space>
            ),
          },
          {
            key: 'config',
            label: t('job.config'),
            children: (
              <Card size="small">
                <pre data-testid="job-config" style={{ margin: 0, fontSize: 13 }}>{stringify(j.config ?? {})}</pre>
              </Card>
            ),
          },
        ]}
      />
    </Space>
  );
}
