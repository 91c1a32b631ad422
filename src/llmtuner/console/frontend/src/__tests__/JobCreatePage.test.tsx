import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { buildJob, errorsByKey, valuesFromConfig } from '../jobform';
import JobCreatePage from '../pages/JobCreatePage';
import { installFakeFetch, reply, type FakeHandler } from '../test/fakeFetch';
import { renderAt, VIEWER } from '../test/render';

const ROUTES: Record<string, FakeHandler> = {
  'GET /api/models': () => ({ items: [{ id: 1, name: 'embedded', kind: 'embedded', path: '/repo/models/tiny', template: 'shuzhiqihuang', config: { model_name_or_path: 'embedded' } }], total: 1 }),
  'GET /api/datasets': () => ({ items: [{ id: 3, name: 'tcm_sft', format: 'alpaca', num_samples: 20 }], total: 1 }),
};

function fieldItem(testId: string): HTMLElement {
  return screen.getByTestId(testId).closest('.ant-form-item') as HTMLElement;
}

async function fillAndSubmit(advanced?: string) {
  // fireEvent.change rather than typing key by key: the form is large and jsdom slow
  fireEvent.change(screen.getByTestId('field-name'), { target: { value: 'sft-demo' } });
  fireEvent.change(screen.getByTestId('field-model'), { target: { value: 'embedded' } });
  if (advanced) fireEvent.change(screen.getByTestId('field-advanced'), { target: { value: advanced } });
  await userEvent.click(screen.getByTestId('job-submit'));
}

describe('JobCreatePage', () => {
  it('shows a 422 that names a key next to that field', async () => {
    const fake = installFakeFetch({
      ...ROUTES,
      'POST /api/jobs': () =>
        reply(422, { detail: [{ loc: ['body', 'config', 'learning_rate'], msg: 'learning_rate must be > 0 and < 1, got 5', type: 'value_error' }] }),
    });
    renderAt('/jobs/new?dataset=tcm_sft', <JobCreatePage />);
    await screen.findByText('tcm_sft');
    await fillAndSubmit();
    await waitFor(() => expect(fieldItem('field-learning_rate')).toHaveTextContent('learning_rate must be > 0 and < 1, got 5'));
    expect(fieldItem('field-learning_rate').className).toContain('ant-form-item-has-error');
    const sent = fake.callsTo('POST /api/jobs')[0].json as { kind: string; name: string; config: Record<string, unknown> };
    expect(sent.kind).toBe('train');
    expect(sent.name).toBe('sft-demo');
    expect(sent.config).toMatchObject({ model_name_or_path: 'embedded', dataset: 'tcm_sft', template: 'shuzhiqihuang', stage: 'sft', finetuning_type: 'lora' });
    expect(screen.getByTestId('location')).toHaveTextContent('/jobs/new');
  });

  it('shows an unknown advanced key and the suggestion under the advanced editor', async () => {
    installFakeFetch({
      ...ROUTES,
      'POST /api/jobs': () => reply(422, { detail: "Unknown key 'lora_rnak' in config; did you mean 'lora_rank'?" }),
    });
    renderAt('/jobs/new?dataset=tcm_sft', <JobCreatePage />);
    await screen.findByText('tcm_sft');
    await fillAndSubmit('lora_rnak: 8\n');
    const advanced = await screen.findByTestId('advanced-errors');
    expect(advanced).toHaveTextContent('lora_rnak');
    expect(advanced).toHaveTextContent("did you mean 'lora_rank'?");
    expect(screen.getByTestId('error-alert')).toHaveTextContent('服务器拒绝了这个配置');
  });

  it('refuses an advanced text that is not a mapping before sending anything', async () => {
    const fake = installFakeFetch(ROUTES);
    renderAt('/jobs/new?dataset=tcm_sft', <JobCreatePage />);
    await screen.findByText('tcm_sft');
    await fillAndSubmit('- just\n- a list\n');
    expect(await screen.findByText(/高级参数不是有效的 YAML\/JSON 对象/)).toBeInTheDocument();
    expect(fake.callsTo('POST /api/jobs')).toHaveLength(0);
  });

  it('goes to the new job once the server accepts it', async () => {
    installFakeFetch({ ...ROUTES, 'POST /api/jobs': () => reply(201, { id: 12, name: 'sft-demo', kind: 'train', status: 'PENDING', config: {} }) });
    renderAt('/jobs/new?dataset=tcm_sft', <JobCreatePage />);
    await screen.findByText('tcm_sft');
    await fillAndSubmit('max_steps: 6\n');
    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent('/jobs/12'));
  });

  it('creates a serve job with a registered adapter beside the base, and no dataset', async () => {
    const fake = installFakeFetch({
      ...ROUTES,
      'GET /api/models': () => ({ items: [
        { id: 1, name: 'embedded', kind: 'embedded', path: '/repo/models/tiny', template: 'shuzhiqihuang', config: { model_name_or_path: 'embedded' } },
        { id: 2, name: 'tcm-lora', kind: 'adapter', path: '/data/jobs/3/output', template: 'shuzhiqihuang', config: { model_name_or_path: 'embedded', adapter_name_or_path: '/data/jobs/3/output' } },
      ], total: 2 }),
      'POST /api/jobs': () => reply(201, { id: 14, name: 'srv', kind: 'serve', status: 'PENDING', config: {} }),
    });
    renderAt('/jobs/new?kind=serve', <JobCreatePage />);
    expect(screen.queryByTestId('field-dataset')).not.toBeInTheDocument();
    fireEvent.mouseDown(within(screen.getByTestId('field-adapters')).getByRole('combobox'));
    await userEvent.click(await screen.findByText('tcm-lora (/data/jobs/3/output)'));
    fireEvent.change(screen.getByTestId('field-max_new_tokens'), { target: { value: '64' } });
    fireEvent.change(screen.getByTestId('field-name'), { target: { value: 'srv' } });
    fireEvent.change(screen.getByTestId('field-model'), { target: { value: 'embedded' } });
    await userEvent.click(screen.getByTestId('job-submit'));
    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent('/jobs/14'));
    const sent = fake.callsTo('POST /api/jobs')[0].json as { kind: string; config: Record<string, unknown> };
    expect(sent.kind).toBe('serve');
    expect(sent.config).toEqual({ model_name_or_path: 'embedded', template: 'shuzhiqihuang', adapters: 'tcm-lora=/data/jobs/3/output', max_new_tokens: 64 });
  });

  it('is not offered to a viewer', () => {
    installFakeFetch(ROUTES);
    renderAt('/jobs/new', <JobCreatePage />, { user: VIEWER });
    expect(screen.getByText('只读账号：不能修改')).toBeInTheDocument();
    expect(screen.queryByTestId('job-submit')).not.toBeInTheDocument();
  });
});

describe('jobform', () => {
  it('builds the config from the fields, steps or epochs, advanced keys last', () => {
    const body = buildJob({ kind: 'train', name: ' a ', model_name_or_path: 'embedded', dataset: ['x', 'y'], length_mode: 'steps', max_steps: 6, num_train_epochs: 3, advanced: '{"learning_rate": 0.001, "lora_rank": 8}', learning_rate: 0.1 });
    expect(body).toEqual({ kind: 'train', name: 'a', config: { model_name_or_path: 'embedded', dataset: 'x,y', max_steps: 6, learning_rate: 0.001, lora_rank: 8 } });
  });

  it('clones a config: common keys into fields, the others into YAML', () => {
    const values = valuesFromConfig('train', 'a-copy', { dataset: 'x,y', max_steps: 6, lora_rank: 8 });
    expect(values.dataset).toEqual(['x', 'y']);
    expect(values.length_mode).toBe('steps');
    expect(values.advanced).toBe('lora_rank: 8\n');
  });

  it('finds the key a plain 422 message is about, preferring the advanced keys', () => {
    expect(errorsByKey({}, "unknown key 'lora_rnak'; did you mean 'lora_rank'?", ['learning_rate'], ['lora_rnak'])).toEqual({ lora_rnak: "unknown key 'lora_rnak'; did you mean 'lora_rank'?" });
    expect(errorsByKey({}, 'cutoff_len must be positive', ['cutoff_len', 'learning_rate'])).toEqual({ cutoff_len: 'cutoff_len must be positive' });
    expect(errorsByKey({ max_steps: 'too big' }, 'x', [])).toEqual({ max_steps: 'too big' });
  });
});
