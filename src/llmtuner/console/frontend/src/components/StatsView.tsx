/** Token statistics of a preview, shown whatever their nesting: numbers as they are, small maps as tags. */
import { Descriptions, Space, Tag } from 'antd';
import type { ReactNode } from 'react';
import { useI18n, type MessageKey } from '../i18n';

const LABELS: Record<string, MessageKey> = {
  samples: 'datasets.samples',
  kept: 'datasets.kept',
  dropped: 'datasets.dropped',
  truncated: 'datasets.truncated',
  total_tokens: 'datasets.totalTokens',
  percentiles: 'datasets.percentiles',
  tokens_per_sample: 'datasets.percentiles',
  tokens: 'datasets.percentiles',
  pii: 'datasets.deid',
};

function isPlain(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === 'object' && !Array.isArray(value);
}

function show(value: unknown): ReactNode {
  if (typeof value === 'number') return Number.isInteger(value) ? value : Number(value.toPrecision(4));
  if (Array.isArray(value)) return value.length > 12 ? `${value.length} items` : value.join(', ');
  if (isPlain(value)) {
    const entries = Object.entries(value);
    if (!entries.length) return '0';
    return (
      <Space size={[4, 4]} wrap>
        {entries.map(([key, item]) => (
          <Tag key={key}>
            {key}: {typeof item === 'object' ? JSON.stringify(item) : String(typeof item === 'number' ? show(item) : item)}
          </Tag>
        ))}
      </Space>
    );
  }
  return value === null || value === undefined ? '—' : String(value);
}

function Table({ stats, title }: { stats: Record<string, unknown>; title?: string }) {
  const { t } = useI18n();
  return (
    <Descriptions size="small" bordered column={{ xs: 1, sm: 2, lg: 3 }} title={title}>
      {Object.entries(stats).map(([key, value]) => (
        <Descriptions.Item key={key} label={LABELS[key] ? t(LABELS[key]) : key}>
          {show(value)}
        </Descriptions.Item>
      ))}
    </Descriptions>
  );
}

export default function StatsView({ stats }: { stats: unknown }) {
  if (!isPlain(stats)) return null;
  const entries = Object.entries(stats);
  // {train: {...}, eval: {...}}: one table per split
  if (entries.length && entries.every(([, value]) => isPlain(value) && ('samples' in (value as object) || 'kept' in (value as object)))) {
    return (
      <Space direction="vertical" style={{ width: '100%' }} data-testid="token-stats">
        {entries.map(([split, value]) => (
          <Table key={split} stats={value as Record<string, unknown>} title={split} />
        ))}
      </Space>
    );
  }
  return (
    <div data-testid="token-stats">
      <Table stats={stats} />
    </div>
  );
}
