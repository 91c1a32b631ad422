import { Tag } from 'antd';
import {
  CheckCircleOutlined,
  ClockCircleOutlined,
  CloseCircleOutlined,
  LoadingOutlined,
  MinusCircleOutlined,
  SyncOutlined,
} from '@ant-design/icons';
import type { ReactNode } from 'react';
import type { JobStatus } from '../api';
import { useI18n, type MessageKey } from '../i18n';

const LOOK: Record<JobStatus, { color: string; icon: ReactNode }> = {
  PENDING: { color: 'default', icon: <ClockCircleOutlined /> },
  PREPARING: { color: 'processing', icon: <LoadingOutlined /> },
  RUNNING: { color: 'processing', icon: <SyncOutlined spin /> },
  COMPLETED: { color: 'success', icon: <CheckCircleOutlined /> },
  FAILED: { color: 'error', icon: <CloseCircleOutlined /> },
  STOPPED: { color: 'warning', icon: <MinusCircleOutlined /> },
};

/** A job's status as a coloured tag, in the interface's language; the raw status is in data-status. */
export default function StatusTag({ status }: { status: string }) {
  const { t } = useI18n();
  const look = LOOK[status as JobStatus] ?? { color: 'default', icon: null };
  const key = `status.${status}` as MessageKey;
  const label = t(key) === key ? status : t(key);
  return (
    <Tag color={look.color} icon={look.icon} data-testid="status-tag" data-status={status}>
      {label}
    </Tag>
  );
}
