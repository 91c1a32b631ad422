/**
 * Loss and learning rate per step. Charts use recharts: React components over SVG, well kept (MIT, frequent
 * releases), no canvas or external service, and about a third of the size of @ant-design/plots (which brings the
 * whole G2 engine) for the two line charts and one bar chart the console draws.
 */
import { Empty } from 'antd';
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import type { MetricPoint } from '../api';
import { useI18n } from '../i18n';

function short(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  return abs < 1e-3 || abs >= 1e4 ? value.toExponential(1) : String(Number(value.toPrecision(3)));
}

export default function MetricsChart({ points, height = 320 }: { points: MetricPoint[]; height?: number }) {
  const { t } = useI18n();
  const lossPoints = points.filter((p) => typeof p.loss === 'number' || typeof p.eval_loss === 'number');
  const hasLr = points.some((p) => typeof p.learning_rate === 'number');
  const hasEvalLoss = points.some((p) => typeof p.eval_loss === 'number');
  if (!points.length) {
    return <Empty data-testid="loss-chart-empty" description={t('job.noMetrics')} />;
  }
  return (
    <div data-testid="loss-chart" data-points={lossPoints.length} style={{ width: '100%', height }}>
      <ResponsiveContainer width="100%" height="100%">
        <LineChart data={points} margin={{ top: 8, right: 24, bottom: 8, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="step" type="number" domain={['dataMin', 'dataMax']} allowDecimals={false} label={{ value: t('job.step'), position: 'insideBottomRight', offset: -4 }} />
          <YAxis yAxisId="loss" tickFormatter={short} width={56} domain={['auto', 'auto']} />
          {hasLr && <YAxis yAxisId="lr" orientation="right" tickFormatter={short} width={64} />}
          <Tooltip formatter={(value: number) => short(value)} />
          <Legend />
          <Line yAxisId="loss" type="monotone" dataKey="loss" name={t('job.loss')} stroke="#1677ff" strokeWidth={2} dot={{ r: 3 }} isAnimationActive={false} connectNulls />
          {hasEvalLoss && <Line yAxisId="loss" type="monotone" dataKey="eval_loss" name="eval_loss" stroke="#fa8c16" strokeWidth={2} dot={{ r: 3 }} isAnimationActive={false} connectNulls />}
          {hasLr && <Line yAxisId="lr" type="monotone" dataKey="learning_rate" name={t('job.lr')} stroke="#52c41a" strokeDasharray="5 3" dot={false} isAnimationActive={false} connectNulls />}
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
}

/** One bar per category (an evaluation's per-category scores). */
export function CategoryChart({ data, metric, height = 280 }: { data: Array<{ category: string; value: number }>; metric: string; height?: number }) {
  if (!data.length) return null;
  return (
    <div data-testid="category-chart" style={{ width: '100%', height }}>
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={data} margin={{ top: 8, right: 16, bottom: 8, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="category" />
          <YAxis tickFormatter={short} />
          <Tooltip formatter={(value: number) => short(value)} />
          <Bar dataKey="value" name={metric} fill="#1677ff" isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}
