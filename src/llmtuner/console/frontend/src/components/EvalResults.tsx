/**
 * An evaluation's results, from the metrics.json an eval job writes (overall, by_category, safety, safety_flags,
 * worst): the metrics table, a per-category chart, the TCM safety flags, the lowest-scoring answers, and the
 * comparison with another evaluation (base vs tuned; its id in the URL as ?compare=ID).
 */
import { Card, Empty, Select, Space, Table, Tag, Typography } from 'antd';
import { useMemo } from 'react';
import { useSearchParams } from 'react-router-dom';
import { api, type JobMetrics } from '../api';
import { useLoad } from '../hooks';
import { useI18n } from '../i18n';
import { CategoryChart } from './MetricsChart';

export interface EvalReport {
  task?: string;
  samples?: number;
  overall?: Record<string, number | null>;
  by_category?: Record<string, Record<string, number | null>>;
  safety?: { counts?: Record<string, number> } | null;
  safety_flags?: Array<{ id: string | number; kind: string; herbs?: string[]; rule?: string }>;
  worst?: Array<Record<string, unknown>>;
  [key: string]: unknown;
}

const MAIN_METRIC: Record<string, string> = { qa: 'rouge-l', mcq: 'accuracy', ppl: 'perplexity' };

export function reportOf(metrics?: JobMetrics | null): EvalReport | null {
  if (!metrics) return null;
  const candidate = (metrics.results ?? null) as EvalReport | null;
  return candidate && typeof candidate === 'object' && candidate.overall ? candidate : null;
}

function num(value: unknown): string {
  return typeof value === 'number' ? String(Number(value.toPrecision(4))) : value === null || value === undefined ? '–' : String(value);
}

function Compare({ report, jobId }: { report: EvalReport; jobId?: number }) {
  const { t } = useI18n();
  const [params, setParams] = useSearchParams();
  const other = params.get('compare');
  const jobs = useLoad(() => api.listJobs({ kind: 'eval' }), []);
  const otherMetrics = useLoad(() => (other ? api.jobMetrics(other) : Promise.resolve(null)), [other]);
  const otherReport = reportOf(otherMetrics.data ?? null);
  const rows = Object.keys({ ...(report.overall ?? {}), ...(otherReport?.overall ?? {}) }).map((metric) => {
    const mine = report.overall?.[metric];
    const theirs = otherReport?.overall?.[metric];
    return { metric, mine, theirs, delta: typeof mine === 'number' && typeof theirs === 'number' ? mine - theirs : null };
  });
  return (
    <Card size="small" title={t('eval.compare')} data-testid="eval-compare">
      <Space style={{ marginBottom: 12 }}>
        <Typography.Text>{t('eval.compareWith')}</Typography.Text>
        <Select
          allowClear
          style={{ width: 320 }}
          value={other ?? undefined}
          placeholder="#id"
          onChange={(value) => {
            const next = new URLSearchParams(params);
            if (value) next.set('compare', value);
            else next.delete('compare');
            setParams(next, { replace: true });
          }}
          options={(jobs.data ?? []).filter((job) => job.id !== jobId && job.status === 'COMPLETED').map((job) => ({ value: String(job.id), label: `#${job.id} ${job.name}` }))}
        />
      </Space>
      {otherReport && (
        <Table
          size="small"
          rowKey="metric"
          pagination={false}
          dataSource={rows}
          columns={[
            { title: t('eval.metric'), dataIndex: 'metric' },
            { title: `#${jobId ?? ''}`, dataIndex: 'mine', render: num },
            { title: `#${other}`, dataIndex: 'theirs', render: num },
            { title: 'Δ', dataIndex: 'delta', render: (value: number | null) => (value === null ? '–' : <Typography.Text type={value > 0 ? 'success' : value < 0 ? 'danger' : undefined}>{value > 0 ? '+' : ''}{num(value)}</Typography.Text>) },
          ]}
        />
      )}
      {!otherReport && <Typography.Text type="secondary">{t('common.none')}</Typography.Text>}
    </Card>
  );
}

export default function EvalResults({ metrics, jobId }: { metrics?: JobMetrics | null; jobId?: number }) {
  const { t } = useI18n();
  const report = reportOf(metrics);
  const task = report?.task ?? 'qa';
  const categories = useMemo(() => Object.entries(report?.by_category ?? {}), [report]);
  const metricNames = categories.length ? Object.keys(categories[0][1]).filter((k) => k !== 'samples') : [];
  const main = metricNames.includes(MAIN_METRIC[task]) ? MAIN_METRIC[task] : metricNames[0];
  if (!report) return <Empty description={t('job.noMetrics')} />;
  return (
    <Space direction="vertical" style={{ width: '100%' }} data-testid="eval-results">
      <Card size="small" title={`${t('job.evalMetrics')} (${task}, ${t('eval.samples', { n: report.samples ?? '?' })})`}>
        <Table
          size="small"
          rowKey="metric"
          pagination={false}
          dataSource={Object.entries(report.overall ?? {}).map(([metric, value]) => ({ metric, value }))}
          columns={[
            { title: t('eval.metric'), dataIndex: 'metric' },
            { title: t('eval.value'), dataIndex: 'value', render: num },
          ]}
        />
      </Card>
      {categories.length > 0 && (
        <Card size="small" title={`${t('eval.byCategory')}: ${main ?? ''}`}>
          {main && <CategoryChart metric={main} data={categories.map(([category, values]) => ({ category, value: Number(values[main] ?? 0) }))} />}
          <Table
            size="small"
            rowKey="category"
            pagination={false}
            dataSource={categories.map(([category, values]) => ({ category, ...values }))}
            columns={[{ title: t('eval.category'), dataIndex: 'category' }, ...['samples', ...metricNames].map((name) => ({ title: name, dataIndex: name, render: num }))]}
          />
        </Card>
      )}
      {report.safety && (
        <Card size="small" title={t('eval.safety')} data-testid="eval-safety">
          <Space wrap style={{ marginBottom: 8 }}>
            {Object.entries(report.safety.counts ?? {}).map(([kind, count]) => (
              <Tag key={kind} color={count ? 'red' : 'green'}>{kind}: {count}</Tag>
            ))}
          </Space>
          {(report.safety_flags ?? []).length > 0 && (
            <Table
              size="small"
              rowKey={(row) => `${row.id}-${row.kind}`}
              pagination={{ pageSize: 10, hideOnSinglePage: true }}
              dataSource={report.safety_flags}
              columns={[
                { title: 'id', dataIndex: 'id' },
                { title: 'check', dataIndex: 'kind', render: (value: string) => <Tag color="red">{value}</Tag> },
                { title: 'herbs', dataIndex: 'herbs', render: (value?: string[]) => (value ?? []).join('、') },
                { title: 'rule', dataIndex: 'rule' },
              ]}
            />
          )}
        </Card>
      )}
      {(report.worst ?? []).length > 0 && (
        <Card size="small" title={t('eval.worst', { n: report.worst!.length })} data-testid="eval-worst">
          <Table
            size="small"
            rowKey="__row"
            pagination={{ pageSize: 5, hideOnSinglePage: true }}
            dataSource={report.worst!.map((row, index) => ({ ...row, __row: index }))}
            columns={Object.keys(report.worst![0]).map((key) => ({
              title: key,
              dataIndex: key,
              ellipsis: false,
              render: (value: unknown) => <span style={{ whiteSpace: 'pre-wrap' }}>{typeof value === 'number' ? num(value) : String(value ?? '')}</span>,
            }))}
          />
        </Card>
      )}
      <Compare report={report} jobId={jobId} />
    </Space>
  );
}
