import { App, Button, Card, Form, Input, Popconfirm, Space, Table, Tag, Typography, Upload } from 'antd';
import { DeleteOutlined, InboxOutlined, ReloadOutlined } from '@ant-design/icons';
import { useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { api, type ApiError, type Dataset } from '../api';
import { useAuth } from '../auth';
import ErrorAlert from '../components/ErrorAlert';
import { formatBytes, formatTime } from '../format';
import { asApiError, useLoad } from '../hooks';
import { useI18n } from '../i18n';

/** A dataset name from a file name: medical-sft.v2.json → medical_sft_v2 */
export function nameFromFile(fileName: string): string {
  const stem = fileName.replace(/\.(jsonl|json|csv|parquet|txt|arrow)$/i, '');
  return stem.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 64) || 'dataset';
}

export default function DatasetsPage() {
  const { t } = useI18n();
  const { message } = App.useApp();
  const { canWrite } = useAuth();
  const navigate = useNavigate();
  const { data, error, loading, reload } = useLoad(() => api.listDatasets(), []);
  const [name, setName] = useState('');
  const [uploading, setUploading] = useState(false);
  const [uploadError, setUploadError] = useState<ApiError | null>(null);
  const [actionError, setActionError] = useState<ApiError | null>(null);

  const upload = async (file: File) => {
    setUploading(true);
    setUploadError(null);
    try {
      const dataset = await api.uploadDataset(file, name.trim() || nameFromFile(file.name), file.name);
      message.success(t('datasets.uploaded', { name: dataset.name, count: dataset.num_samples }));
      setName('');
      navigate(`/datasets/${dataset.id}`);
    } catch (err) {
      setUploadError(asApiError(err));
    } finally {
      setUploading(false);
    }
  };

  const remove = async (dataset: Dataset) => {
    setActionError(null);
    try {
      await api.deleteDataset(dataset.id);
      message.success(t('common.deleted'));
      await reload();
    } catch (err) {
      setActionError(asApiError(err));
    }
  };

  return (
    <Space direction="vertical" size="large" style={{ width: '100%' }}>
      {canWrite && (
        <Card title={t('datasets.upload')} size="small">
          <Form layout="inline" style={{ marginBottom: 12 }}>
            <Form.Item label={t('datasets.name')} help={t('datasets.nameHelp')}>
              <Input value={name} onChange={(e) => setName(e.target.value)} style={{ width: 260 }} data-testid="dataset-name" />
            </Form.Item>
          </Form>
          <Upload.Dragger
            name="file"
            multiple={false}
            showUploadList={false}
            disabled={uploading}
            accept=".json,.jsonl,.csv,.txt,.parquet"
            customRequest={({ file }) => void upload(file as File)}
            data-testid="dataset-upload"
          >
            <p className="ant-upload-drag-icon">
              <InboxOutlined />
            </p>
            <p className="ant-upload-text">{uploading ? t('common.loading') : t('datasets.uploadHint')}</p>
            <p className="ant-upload-hint">{t('datasets.uploadFormats')}</p>
          </Upload.Dragger>
          <div style={{ marginTop: 12 }}>
            <ErrorAlert error={uploadError} title={t('datasets.uploadFailed')} />
          </div>
        </Card>
      )}
      <Card title={t('datasets.list')} size="small" extra={<Button icon={<ReloadOutlined />} onClick={() => void reload()}>{t('common.refresh')}</Button>}>
        <ErrorAlert error={error ?? actionError} />
        <Table<Dataset>
          rowKey="id"
          size="small"
          loading={loading}
          dataSource={data ?? []}
          data-testid="datasets-table"
          columns={[
            { title: 'ID', dataIndex: 'id', width: 60 },
            { title: t('common.name'), dataIndex: 'name', render: (value: string, row) => <Link to={`/datasets/${row.id}`}>{value}</Link> },
            { title: t('datasets.format'), dataIndex: 'format', width: 110, render: (value: string) => <Tag color="blue">{value}</Tag> },
            { title: t('datasets.samples'), dataIndex: 'num_samples', width: 90 },
            { title: t('datasets.size'), dataIndex: 'size_bytes', width: 100, render: (value: number) => formatBytes(value) },
            {
              title: t('datasets.deid'),
              dataIndex: 'deidentification',
              render: (value: Dataset['deidentification']) => {
                const found = Object.entries(value?.counts ?? {}).filter(([, n]) => typeof n === 'number' && n > 0);
                return found.length ? found.map(([kind, n]) => <Tag key={kind} color="orange">{kind} {n}</Tag>) : <Typography.Text type="secondary">0</Typography.Text>;
              },
            },
            { title: t('common.createdAt'), dataIndex: 'created_at', width: 170, render: (value: string) => formatTime(value) },
            {
              title: t('common.actions'),
              width: 150,
              render: (_: unknown, row) => (
                <Space>
                  <Link to={`/datasets/${row.id}`}>{t('common.view')}</Link>
                  {canWrite && (
                    <Popconfirm title={t('common.confirmDelete')} onConfirm={() => remove(row)}>
                      <Button type="link" danger size="small" icon={<DeleteOutlined />}>
                        {t('common.delete')}
                      </Button>
                    </Popconfirm>
                  )}
                </Space>
              ),
            },
          ]}
        />
      </Card>
    </Space>
  );
}
