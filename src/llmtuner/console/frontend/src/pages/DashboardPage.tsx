import { Card, Col, Empty, Progress, Row, Space, Statistic, Table, Tag, Typography } from 'antd';
import { DatabaseOutlined, ExperimentOutlined, RobotOutlined, SyncOutlined } from '@ant-design/icons';
import { Link } from 'react-router-dom';
import { api, JOB_STATUSES, type GpuInfo, type JobSummary } from '../api';
import ErrorAlert from '../components/ErrorAlert';
import StatusTag from '../components/StatusTag';
import { formatBytes, formatTime, percent } from '../format';
import { useLoad } from '../hooks';
import { useI18n, type MessageKey } from '../i18n';

function Gauge({ title, value, detail }: { title: string; value?: number | null; detail?: string }) {
  const p = percent(value);
  return (
    <div style={{ textAlign: 'center' }}>
      <Progress type="dashboard" percent={p} size={110} strokeColor={p > 90 ? '#ff4d4f' : p > 70 ? '#faad14' : '#1677ff'} />
      <div style={{ fontWeight: 500 }}>{title}</div>
      {detail && <Typography.Text type="secondary" style={{ fontSize: 12 }}>{detail}</Typography.Text>}
    </div>
  );
}

export default function DashboardPage() {
  const { t } = useI18n();
  const { data, error } = useLoad(() => api.dashboard(), [], 5000);
  const jobs = (data?.counts.jobs_by_status ?? {}) as Record<string, number>;
  const total = JOB_STATUSES.reduce((sum, s) => sum + (jobs[s] ?? 0), 0);
  const system = data?.system ?? {};
  const memory = system.memory;
  const disk = system.disk;
  const diskPercent = disk?.total_bytes ? ((disk.used_bytes ?? 0) / disk.total_bytes) * 100 : undefined;
  const gpus: GpuInfo[] = system.gpus ?? [];

  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }} data-testid="dashboard">
      <ErrorAlert error={error} />
      <Row gutter={[16, 16]}>
        <Col xs={24} sm={12} lg={6}>
          <Card><Link to="/datasets"><Statistic title={t('dashboard.datasets')} value={data?.counts.datasets ?? 0} prefix={<DatabaseOutlined />} /></Link></Card>
        </Col>
        <Col xs={24} sm={12} lg={6}>
          <Card><Link to="/models"><Statistic title={t('dashboard.models')} value={data?.counts.models ?? 0} prefix={<RobotOutlined />} /></Link></Card>
        </Col>
        <Col xs={24} sm={12} lg={6}>
          <Card><Link to="/jobs"><Statistic title={t('dashboard.jobs')} value={total} prefix={<ExperimentOutlined />} /></Link></Card>
        </Col>
        <Col xs={24} sm={12} lg={6}>
          <Card><Link to="/jobs?status=RUNNING"><Statistic title={t('dashboard.running')} value={(jobs.RUNNING ?? 0) + (jobs.PREPARING ?? 0)} prefix={<SyncOutlined spin={(jobs.RUNNING ?? 0) > 0} />} valueStyle={{ color: '#1677ff' }} /></Link></Card>
        </Col>
      </Row>
      <Row gutter={[16, 16]}>
        <Col xs={24} lg={14}>
          <Card title={t('dashboard.recent')} size="small">
            <Table<JobSummary>
              size="small"
              rowKey="id"
              pagination={false}
              dataSource={data?.recent_jobs ?? []}
              columns={[
                { title: 'ID', dataIndex: 'id', width: 60 },
                { title: t('common.name'), dataIndex: 'name', render: (name: string, job) => <Link to={`/jobs/${job.id}`}>{name}</Link> },
                { title: t('jobs.kind'), dataIndex: 'kind', width: 80, render: (kind: string) => t(`jobs.kind.${kind}` as MessageKey) },
                { title: t('jobs.status'), dataIndex: 'status', width: 110, render: (status: string) => <StatusTag status={status} /> },
                { title: t('common.createdAt'), dataIndex: 'created_at', width: 170, render: (value: string) => formatTime(value) },
              ]}
            />
            <div style={{ marginTop: 12 }}>
              <Typography.Text type="secondary" style={{ marginRight: 8 }}>{t('dashboard.byStatus')}:</Typography.Text>
              {JOB_STATUSES.map((status) => (
                <Link key={status} to={`/jobs?status=${status}`} style={{ marginRight: 4 }}>
                  <Tag>
                    {t(`status.${status}` as MessageKey)} {jobs[status] ?? 0}
                  </Tag>
                </Link>
              ))}
            </div>
          </Card>
        </Col>
        <Col xs={24} lg={10}>
          <Card title={t('dashboard.system')} size="small" data-testid="system-load">
            <Row gutter={8}>
              <Col span={8}>
                <Gauge title={t('dashboard.cpu')} value={system.cpu?.percent} detail={system.cpu?.count ? `${system.cpu.count} cores` : undefined} />
              </Col>
              <Col span={8}>
                <Gauge title={t('dashboard.memory')} value={memory?.percent} detail={memory ? `${formatBytes(memory.used_bytes)} / ${formatBytes(memory.total_bytes)}` : undefined} />
              </Col>
              <Col span={8}>
                <Gauge title={t('dashboard.disk')} value={diskPercent} detail={disk ? `${formatBytes(disk.free_bytes)} free` : undefined} />
              </Col>
            </Row>
            <Typography.Title level={5} style={{ marginTop: 16 }}>{t('dashboard.gpus')}</Typography.Title>
            {gpus.length === 0 ? (
              <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={system.gpu_note ? `${t('dashboard.noGpu')} — ${system.gpu_note}` : t('dashboard.noGpu')} />
            ) : (
              <Space direction="vertical" style={{ width: '100%' }}>
                {gpus.map((gpu) => {
                  const mem = gpu.memory_total_bytes ? ((gpu.memory_used_bytes ?? 0) / gpu.memory_total_bytes) * 100 : 0;
                  return (
                    <div key={gpu.index}>
                      <Typography.Text strong>GPU {gpu.index}</Typography.Text> <Typography.Text type="secondary">{gpu.name}</Typography.Text>
                      {typeof gpu.temperature_c === 'number' && <Tag style={{ marginLeft: 8 }}>{gpu.temperature_c}°C</Tag>}
                      <div>{t('dashboard.gpuUtil')} <Progress percent={percent(gpu.utilization_percent)} size="small" /></div>
                      <div>
                        {t('dashboard.gpuMemory')} {formatBytes(gpu.memory_used_bytes)} / {formatBytes(gpu.memory_total_bytes)}
                        <Progress percent={percent(mem)} size="small" showInfo={false} />
                      </div>
                    </div>
                  );
                })}
              </Space>
            )}
          </Card>
        </Col>
      </Row>
    </Space>
  );
}
