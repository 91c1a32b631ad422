import { screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import MaskedPreview, { parseMarked } from '../components/MaskedPreview';
import DatasetDetailPage from '../pages/DatasetDetailPage';
import { installFakeFetch } from '../test/fakeFetch';
import { renderAt } from '../test/render';

describe('MaskedPreview', () => {
  it('reads the CLI rendering: ⟦masked⟧ spans and the learned rest', () => {
    expect(parseMarked('⟦<s>问：玄参？答：⟧清热凉血⟦</s>⟧')).toEqual([
      { text: '<s>问：玄参？答：', masked: true },
      { text: '清热凉血', masked: false },
      { text: '</s>', masked: true },
    ]);
    expect(parseMarked('no marks')).toEqual([{ text: 'no marks', masked: false }]);
  });

  it('greys the masked prompt and highlights the learned answer', () => {
    renderAt(
      '/',
      <MaskedPreview
        rows={[
          { index: 0, num_tokens: 42, segments: [{ text: '用户：请介绍玄参。\n助手：', learned: false }, { text: '玄参属于清热药。', learned: true }] },
          { index: 1, text: '⟦问：头痛⟧答：疏风止痛' },
        ]}
      />,
    );
    const masked = screen.getAllByTestId('seg-masked');
    const learned = screen.getAllByTestId('seg-learned');
    expect(masked.map((el) => el.textContent)).toEqual(['用户：请介绍玄参。\n助手：', '问：头痛']);
    expect(learned.map((el) => el.textContent)).toEqual(['玄参属于清热药。', '答：疏风止痛']);
    expect(masked[0]).toHaveAttribute('title', '不学习（已掩码）');
    expect(masked[0].style.color).toBe('rgb(140, 140, 140)');
    expect(learned[0]).toHaveAttribute('title', '学习的回答');
    expect(screen.getByText('42 个 token')).toBeInTheDocument();
    expect(screen.getAllByTestId('preview-row')).toHaveLength(2);
  });

  it('shows a packed row’s sample boundary as a rule', () => {
    renderAt('/', <MaskedPreview rows={[{ text: '⟦q1⟧a1\n│\n⟦q2⟧a2' }]} />);
    expect(screen.getAllByTestId('sample-boundary')).toHaveLength(1);
    expect(screen.getAllByTestId('seg-learned').map((el) => el.textContent)).toEqual(['a1', 'a2']);
  });

  it('the dataset page shows the preview, token statistics and de-identification counts', async () => {
    const fake = installFakeFetch({
      'GET /api/datasets/:id': () => ({ id: 3, name: 'tcm_sft', format: 'alpaca', num_samples: 20, size_bytes: 2048, deidentification: { counts: { mobile: 2, id_card: 1, email: 0 }, records_with_identifiers: 2 } }),
      'GET /api/models': () => ({ items: [{ id: 1, name: 'embedded', kind: 'embedded', path: '/m' }], total: 1 }),
      'GET /api/datasets/:id/preview': () => ({
        dataset: 'tcm_sft', format: 'alpaca', stage: 'sft', model: 'embedded', template: 'qwen2.5', cutoff_len: 256,
        rows: [{ index: 0, answer: null, segments: [{ text: '问：', learned: false }, { text: '答', learned: true }], num_tokens: 5 }],
        stats: { samples: 20, kept: 19, dropped: { empty_answer: 1 }, truncated: 1, tokens: { p50: 40, max: 96 }, total_tokens: 812 },
      }),
    });
    renderAt('/datasets/3?template=qwen2.5&cutoff_len=256', <DatasetDetailPage />, { path: '/datasets/:id' });
    expect(await screen.findByTestId('seg-learned')).toHaveTextContent('答');
    expect(screen.getByTestId('token-stats')).toHaveTextContent('812');
    expect(screen.getByTestId('deid-counts')).toHaveTextContent('mobile: 2');
    expect(screen.getByTestId('token-stats')).toHaveTextContent('p50: 40');
    expect(screen.getByTestId('seg-masked')).toHaveTextContent('问：');
    expect(screen.getByTestId('deid-counts')).not.toHaveTextContent('email');
    const preview = fake.callsTo('GET /api/datasets/:id/preview')[0];
    expect(preview.path).toBe('/api/datasets/3/preview');
    expect(preview.query.get('template')).toBe('qwen2.5');
    expect(preview.query.get('cutoff_len')).toBe('256');
  });
});
