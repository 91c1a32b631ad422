import { App, Button, Card, Form, Input, Modal, Popconfirm, Space, Table, Tag, Typography } from 'antd';
import { DeleteOutlined, PlusOutlined, ReloadOutlined } from '@ant-design/icons';
import { useState } from 'react';
import { Link } from 'react-router-dom';
import { api, type ApiError, type ModelCreate, type ModelInfo } from '../api';
import { useAuth } from '../auth';
import ErrorAlert from '../components/ErrorAlert';
import { formatBytes, formatCount, formatTime } from '../format';
import { asApiError, useLoad } from '../hooks';
import { useI18n, type MessageKey } from '../i18n';

const KIND_COLOR: Record<string, string> = { embedded: 'purple', local: 'blue', adapter: 'cyan', release: 'green', full: 'gold' };

export default function ModelsPage() {
  const { t } = useI18n();
  const { message } = App.useApp();
  const { canWrite } = useAuth();
  const { data, error, loading, reload } = useLoad(() => api.listModels(), []);
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState<ApiError | null>(null);
  const [actionError, setActionError] = useState<ApiError | null>(null);
  const [form] = Form.useForm<ModelCreate>();

  const register = async () => {
    const values = await form.validateFields();
    setBusy(true);
    setFormError(null);
    try {
      const model = await api.registerModel({ name: values.name, path: values.path });
      message.success(t('models.registered', { name: model.name }));
      setOpen(false);
      form.resetFields();
      await reload();
    } catch (err) {
      const apiError = asApiError(err);
      setFormError(apiError);
      form.setFields(Object.entries(apiError.fieldErrors).filter(([key]) => ['name', 'path'].includes(key)).map(([key, text]) => ({ name: key as keyof ModelCreate, errors: [text] })));
    } finally {
      setBusy(false);
    }
  };

  const remove = async (model: ModelInfo) => {
    setActionError(null);
    try {
      await api.deleteModel(model.id);
      message.success(t('common.deleted'));
      await reload();
    } catch (err) {
      setActionError(asApiError(err));
    }
  };

  return (
    <Card
      title={t('models.list')}
      size="small"
      extra={
        <Space>
          <Button icon={<ReloadOutlined />} onClick={() => void reload()}>{t('common.refresh')}</Button>
          {canWrite && (
            <Button type="primary" icon={<PlusOutlined />} onClick={() => setOpen(true)} data-testid="model-register">
              {t('models.register')}
            </Button>
          )}
        </Space>
      }
    >
      <ErrorAlert error={error ?? actionError} />
      <Table<ModelInfo>
        rowKey="id"
        size="small"
        loading={loading}
        dataSource={data ?? []}
        columns={[
          { title: 'ID', dataIndex: 'id', width: 60 },
          { title: t('common.name'), dataIndex: 'name', render: (value: string) => <Typography.Text strong>{value}</Typography.Text> },
          {
            title: t('models.kind'),
            dataIndex: 'kind',
            width: 110,
            render: (kind: string) => {
              const key = `models.kind.${kind}` as MessageKey;
              return <Tag color={KIND_COLOR[kind]}>{t(key) === key ? kind : t(key)}</Tag>;
            },
          },
          { title: t('models.architecture'), dataIndex: 'architecture', render: (value?: string) => value ?? '—' },
          { title: t('models.params'), dataIndex: 'num_parameters', width: 90, render: (value?: number) => formatCount(value) },
          { title: t('datasets.size'), dataIndex: 'size_bytes', width: 100, render: (value?: number) => formatBytes(value) },
          { title: t('models.template'), dataIndex: 'template', width: 120, render: (value?: string) => value ?? '—' },
          { title: t('models.path'), dataIndex: 'path', ellipsis: true, render: (value: string) => <Typography.Text code style={{ fontSize: 12 }}>{value}</Typography.Text> },
          { title: t('common.createdAt'), dataIndex: 'created_at', width: 170, render: (value: string) => formatTime(value) },
          {
            title: t('common.actions'),
            width: 190,
            render: (_: unknown, row) => (
              <Space>
                {row.job_id ? <Link to={`/jobs/${row.job_id}`}>#{row.job_id}</Link> : null}
                {canWrite && <Link to={`/jobs/new?model=${encodeURIComponent(row.name)}`}>{t('jobs.new')}</Link>}
                {canWrite && row.kind !== 'embedded' && (
                  <Popconfirm title={t('common.confirmDelete')} onConfirm={() => remove(row)}>
                    <Button type="link" danger size="small" icon={<DeleteOutlined />}>{t('common.delete')}</Button>
                  </Popconfirm>
                )}
              </Space>
            ),
          },
        ]}
      />
      <Modal open={open} title={t('models.register')} onOk={() => void register()} confirmLoading={busy} onCancel={() => setOpen(false)} okText={t('common.create')} cancelText={t('common.cancel')} destroyOnClose>
        <ErrorAlert error={formError} />
        <Form form={form} layout="vertical">
          <Form.Item name="name" label={t('common.name')} rules={[{ required: true, message: t('create.required') }]}>
            <Input placeholder="qwen2.5-7b-instruct" />
          </Form.Item>
          <Form.Item name="path" label={t('models.path')} help={t('models.pathHelp')} rules={[{ required: true, message: t('create.required') }]}>
            <Input placeholder="/data/models/Qwen2.5-7B-Instruct" />
          </Form.Item>
        </Form>
      </Modal>
    </Card>
  );
}
