import { screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import EvalResults from '../components/EvalResults';
import { installFakeFetch } from '../test/fakeFetch';
import { renderAt } from '../test/render';

const report = (rouge: number) => ({
  task: 'qa',
  samples: 8,
  overall: { 'rouge-l': rouge, 'bleu-4': 0.2, term_precision: null },
  by_category: { tcm: { samples: 1, 'rouge-l': rouge + 4 }, western: { samples: 7, 'rouge-l': rouge - 1 } },
  safety: { counts: { 十八反: 1, 十九畏: 0, 妊娠禁忌: 0 } },
  safety_flags: [{ id: 'cqa-0003', kind: '十八反', herbs: ['甘草', '甘遂'], rule: '藻戟遂芫俱战草' }],
  worst: [{ id: 'cqa-0007', category: 'western', 'rouge-l': 0, question: '华法林监测？', prediction: '……' }],
});

describe('EvalResults', () => {
  it('shows the metrics, safety flags, lowest answers, and the comparison named in the URL', async () => {
    installFakeFetch({
      'GET /api/jobs': () => ({ items: [{ id: 3, name: 'eval-base', kind: 'eval', status: 'COMPLETED' }], total: 1 }),
      'GET /api/jobs/:id/metrics': () => ({ kind: 'eval', status: 'COMPLETED', train: [], eval: [], results: report(2) }),
    });
    renderAt('/jobs/4?compare=3', <EvalResults jobId={4} metrics={{ points: [], results: report(6.5) }} />);
    expect(screen.getByText('评测指标 (qa, 8 条)')).toBeInTheDocument();
    expect(screen.getByTestId('eval-safety')).toHaveTextContent('十八反: 1');
    expect(screen.getByTestId('eval-safety')).toHaveTextContent('甘草、甘遂');
    expect(screen.getByTestId('eval-worst')).toHaveTextContent('华法林监测？');
    await waitFor(() => expect(screen.getByTestId('eval-compare')).toHaveTextContent('+4.5'));
  });
});
