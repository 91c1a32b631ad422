import { AutoComplete, Button, Card, Descriptions, Form, InputNumber, Select, Space, Spin, Tag, Typography } from 'antd';
import { ArrowLeftOutlined, ExperimentOutlined, SafetyCertificateOutlined } from '@ant-design/icons';
import { Link, useParams, useSearchParams } from 'react-router-dom';
import { api } from '../api';
import { useAuth } from '../auth';
import ErrorAlert from '../components/ErrorAlert';
import MaskedPreview from '../components/MaskedPreview';
import StatsView from '../components/StatsView';
import { TEMPLATES } from '../constants';
import { formatBytes, formatTime } from '../format';
import { useLoad } from '../hooks';
import { useI18n } from '../i18n';

function DeidCounts({ counts, records }: { counts?: Record<string, unknown>; records?: number }) {
  const { t } = useI18n();
  const found = Object.entries(counts ?? {}).filter(([, n]) => typeof n === 'number' && n > 0) as Array<[string, number]>;
  if (!found.length) return <Typography.Text type="secondary">{t('datasets.deidNone')}</Typography.Text>;
  return (
    <Space size={[4, 4]} wrap data-testid="deid-counts">
      {found.map(([kind, n]) => (
        <Tag key={kind} color="orange" icon={<SafetyCertificateOutlined />}>
          {kind}: {n}
        </Tag>
      ))}
      {typeof records === 'number' && <Typography.Text type="secondary">{t('datasets.deidRecords', { n: records })}</Typography.Text>}
    </Space>
  );
}

export default function DatasetDetailPage() {
  const { id = '' } = useParams();
  const { t } = useI18n();
  const { canWrite } = useAuth();
  const [params, setParams] = useSearchParams();
  const model = params.get('model') ?? undefined;
  const template = params.get('template') ?? undefined;
  const cutoff = params.get('cutoff_len') ? Number(params.get('cutoff_len')) : undefined;
  const count = params.get('rows') ? Number(params.get('rows')) : undefined;
  const dataset = useLoad(() => api.getDataset(id), [id]);
  const models = useLoad(() => api.listModels(), []);
  const previewable = !dataset.data || dataset.data.format !== 'mcq';
  const preview = useLoad(
    () => (previewable ? api.previewDataset(id, { model, template, cutoff_len: cutoff, rows: count }) : Promise.resolve(undefined)),
    [id, model, template, cutoff, count, previewable],
  );
  const [form] = Form.useForm();
  const d = dataset.data;
  const p = preview.data;

  const apply = (values: { model?: string; template?: string; cutoff_len?: number; rows?: number }) => {
    const next = new URLSearchParams();
    for (const [key, value] of Object.entries(values)) if (value !== undefined && value !== null && value !== '') next.set(key, String(value));
    setParams(next, { replace: true });
  };

  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }} data-testid="dataset-detail">
      <Space>
        <Link to="/datasets">
          <ArrowLeftOutlined /> {t('common.back')}
        </Link>
      </Space>
      <ErrorAlert error={dataset.error} />
      <Card
        title={d ? <Space>{d.name}<Tag color="blue">{d.format}</Tag></Space> : t('common.loading')}
        size="small"
        extra={
          canWrite && d ? (
            <Link to={`/jobs/new?dataset=${encodeURIComponent(d.name)}`}>
              <Button type="primary" icon={<ExperimentOutlined />}>{t('datasets.useInJob')}</Button>
            </Link>
          ) : null
        }
      >
        {d && (
          <Descriptions size="small" column={{ xs: 1, md: 2, xl: 3 }}>
            <Descriptions.Item label="ID">{d.id}</Descriptions.Item>
            <Descriptions.Item label={t('datasets.samples')}>{d.num_samples}</Descriptions.Item>
            <Descriptions.Item label={t('datasets.size')}>{formatBytes(d.size_bytes)}</Descriptions.Item>
            <Descriptions.Item label={t('datasets.file')}>{d.original_name ?? d.file_name ?? '—'}</Descriptions.Item>
            <Descriptions.Item label={t('common.createdAt')}>{formatTime(d.created_at)}</Descriptions.Item>
            <Descriptions.Item label={t('datasets.columns')} span="filled">{(d.columns ?? []).map((c) => <Tag key={String(c)}>{typeof c === 'string' ? c : JSON.stringify(c)}</Tag>)}</Descriptions.Item>
            <Descriptions.Item label={t('datasets.sha256')} span="filled">
              <Typography.Text code copyable style={{ fontSize: 12 }}>{d.sha256 ?? '—'}</Typography.Text>
            </Descriptions.Item>
            <Descriptions.Item label={t('datasets.deid')} span="filled">
              <DeidCounts counts={d.deidentification?.counts} records={d.deidentification?.records_with_identifiers} />
            </Descriptions.Item>
          </Descriptions>
        )}
      </Card>
      <Card title={t('datasets.preview')} size="small">
        <Typography.Paragraph type="secondary">{t('datasets.previewHelp')}</Typography.Paragraph>
        <Form form={form} layout="inline" onFinish={apply} initialValues={{ model, template, cutoff_len: cutoff, rows: count }} style={{ marginBottom: 16, rowGap: 8 }}>
          <Form.Item name="model" label={t('create.model')}>
            <Select style={{ width: 180 }} allowClear placeholder={p?.model ?? 'embedded'} options={(models.data ?? []).map((m) => ({ value: m.name, label: m.name }))} />
          </Form.Item>
          <Form.Item name="template" label={t('datasets.template')}>
            <AutoComplete style={{ width: 180 }} options={TEMPLATES.map((value) => ({ value }))} placeholder={p?.template ?? 'shuzhiqihuang'} allowClear />
          </Form.Item>
          <Form.Item name="cutoff_len" label={t('datasets.cutoff')}>
            <InputNumber min={16} max={131072} step={128} placeholder={p?.cutoff_len ? String(p.cutoff_len) : '1024'} />
          </Form.Item>
          <Form.Item name="rows" label={t('datasets.numPreview')}>
            <InputNumber min={1} max={50} placeholder="5" />
          </Form.Item>
          <Button htmlType="submit">{t('datasets.apply')}</Button>
        </Form>
        <ErrorAlert error={preview.error} title={t('datasets.previewFailed')} />
        {!previewable && <Typography.Text type="secondary">{t('datasets.noPreviewMcq')}</Typography.Text>}
        {preview.loading && !p ? (
          <Spin />
        ) : p ? (
          <Space direction="vertical" size="large" style={{ width: '100%' }}>
            {p.stats && (
              <div>
                <Typography.Title level={5}>
                  {t('datasets.tokenStats')}{' '}
                  <Typography.Text type="secondary" style={{ fontSize: 13, fontWeight: 400 }}>
                    {p.stage} · {p.model} · {p.template ?? '—'} · cutoff_len {p.cutoff_len}
                  </Typography.Text>
                </Typography.Title>
                <StatsView stats={p.stats} />
              </div>
            )}
            <MaskedPreview rows={p.rows ?? []} />
          </Space>
        ) : null}
      </Card>
    </Space>
  );
}
