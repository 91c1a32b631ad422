import { Alert, App, Button, Card, Form, Input, Modal, Popconfirm, Select, Space, Switch, Table, Tag } from 'antd';
import { DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import { useState } from 'react';
import { api, ROLES, type ApiError, type Role, type User, type UserCreate } from '../api';
import { useAuth } from '../auth';
import ErrorAlert from '../components/ErrorAlert';
import { formatTime } from '../format';
import { asApiError, useLoad } from '../hooks';
import { useI18n, type MessageKey } from '../i18n';

const ROLE_COLOR: Record<string, string> = { admin: 'red', engineer: 'blue', viewer: 'default' };

export default function UsersPage() {
  const { t } = useI18n();
  const { message } = App.useApp();
  const { isAdmin, user: me } = useAuth();
  const users = useLoad(() => (isAdmin ? api.listUsers() : Promise.resolve([] as User[])), [isAdmin]);
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState<ApiError | null>(null);
  const [actionError, setActionError] = useState<ApiError | null>(null);
  const [form] = Form.useForm<UserCreate>();

  if (!isAdmin) return <Alert type="warning" showIcon message={t('users.adminOnly')} />;
  if (users.error?.status === 404 || users.error?.status === 405) return <Alert type="info" showIcon message={t('users.unavailable')} />;

  const create = async () => {
    const values = await form.validateFields();
    setBusy(true);
    setFormError(null);
    try {
      const user = await api.createUser(values);
      message.success(t('users.created', { name: user.username }));
      setOpen(false);
      form.resetFields();
      await users.reload();
    } catch (err) {
      const apiError = asApiError(err);
      setFormError(apiError);
      form.setFields(Object.entries(apiError.fieldErrors).filter(([key]) => ['username', 'password', 'role'].includes(key)).map(([key, text]) => ({ name: key as keyof UserCreate, errors: [text] })));
    } finally {
      setBusy(false);
    }
  };

  const remove = async (user: User) => {
    setActionError(null);
    try {
      await api.deleteUser(user.id);
      message.success(t('common.deleted'));
      await users.reload();
    } catch (err) {
      setActionError(asApiError(err));
    }
  };

  const update = async (user: User, change: Partial<Pick<User, 'role' | 'disabled'>>) => {
    setActionError(null);
    try {
      await api.updateUser(user.id, change);
      await users.reload();
    } catch (err) {
      setActionError(asApiError(err));
    }
  };

  return (
    <Card
      title={t('users.title')}
      size="small"
      extra={<Button type="primary" icon={<PlusOutlined />} onClick={() => setOpen(true)}>{t('users.create')}</Button>}
    >
      <ErrorAlert error={users.error ?? actionError} />
      <Table<User>
        rowKey="id"
        size="small"
        loading={users.loading}
        dataSource={users.data ?? []}
        columns={[
          { title: 'ID', dataIndex: 'id', width: 60 },
          { title: t('login.username'), dataIndex: 'username' },
          {
            title: t('users.role'),
            dataIndex: 'role',
            width: 160,
            render: (role: Role, row) =>
              row.id === me?.id ? (
                <Tag color={ROLE_COLOR[role]}>{t(`role.${role}` as MessageKey)}</Tag>
              ) : (
                <Select size="small" value={role} style={{ width: 120 }} onChange={(value: Role) => update(row, { role: value })} options={ROLES.map((r) => ({ value: r, label: t(`role.${r}` as MessageKey) }))} />
              ),
          },
          {
            title: t('jobs.status'),
            dataIndex: 'disabled',
            width: 140,
            render: (disabled: boolean, row) => (
              <Space>
                <Switch size="small" checked={!disabled} disabled={row.id === me?.id} onChange={(on) => update(row, { disabled: !on })} />
                {disabled ? <Tag>{t('users.disabled')}</Tag> : <Tag color="green">{t('users.active')}</Tag>}
              </Space>
            ),
          },
          { title: t('users.lastLogin'), dataIndex: 'last_login_at', width: 170, render: (value: string) => formatTime(value) },
          { title: t('common.createdAt'), dataIndex: 'created_at', width: 170, render: (value: string) => formatTime(value) },
          {
            title: t('common.actions'),
            width: 90,
            render: (_: unknown, row) =>
              row.id === me?.id ? null : (
                <Popconfirm title={t('common.confirmDelete')} onConfirm={() => remove(row)} okText={t('common.ok')} cancelText={t('common.cancel')}>
                  <Button type="link" danger size="small" icon={<DeleteOutlined />}>{t('common.delete')}</Button>
                </Popconfirm>
              ),
          },
        ]}
      />
      <Modal open={open} title={t('users.create')} onOk={() => void create()} confirmLoading={busy} onCancel={() => setOpen(false)} okText={t('common.create')} cancelText={t('common.cancel')} destroyOnClose>
        <ErrorAlert error={formError} />
        <Form form={form} layout="vertical" initialValues={{ role: 'engineer' }}>
          <Form.Item name="username" label={t('login.username')} rules={[{ required: true, message: t('create.required') }]}>
            <Input autoComplete="off" />
          </Form.Item>
          <Form.Item name="password" label={t('users.password')} help={t('users.passwordHelp')} rules={[{ required: true, min: 12, message: t('users.passwordHelp') }]}>
            <Input.Password autoComplete="new-password" />
          </Form.Item>
          <Form.Item name="role" label={t('users.role')}>
            <Select options={ROLES.map((r) => ({ value: r, label: t(`role.${r}` as MessageKey) }))} />
          </Form.Item>
        </Form>
      </Modal>
    </Card>
  );
}
