import { afterEach, describe, expect, it } from 'vitest';
import { api, ApiError, errorFromBody, normalizeMetrics } from '../api';
import { installFakeFetch, reply } from '../test/fakeFetch';

afterEach(() => {
  document.cookie = 'llmtuner_csrf=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/';
});

describe('api', () => {
  it('sends the CSRF cookie back as X-CSRF-Token on writes only', async () => {
    document.cookie = 'llmtuner_csrf=csrf-123; path=/';
    const fake = installFakeFetch({
      'POST /api/jobs/:id/stop': () => ({ id: 4, status: 'RUNNING' }),
      'GET /api/jobs/:id': () => ({ id: 4, status: 'RUNNING' }),
    });
    await api.stopJob(4);
    await api.getJob(4);
    expect(fake.calls[0].headers['X-CSRF-Token']).toBe('csrf-123');
    expect(fake.calls[1].headers['X-CSRF-Token']).toBeUndefined();
  });

  it("turns a viewer's 403 into an ApiError carrying the server's sentence", async () => {
    installFakeFetch({ 'DELETE /api/datasets/:id': () => reply(403, { detail: 'Your role viewer may only read: this needs engineer or admin.' }) });
    const error = await api.deleteDataset(1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(403);
    expect((error as ApiError).message).toContain('may only read');
  });

  it('reads the keys of a 422 (loc) and the line of an upload error', () => {
    const error = errorFromBody(422, { detail: [{ loc: ['body', 'config', 'learning_rte'], msg: 'Unknown config key. Did you mean `learning_rate`?', type: 'config_error' }] }, '422');
    expect(error.fieldErrors).toEqual({ learning_rte: 'Unknown config key. Did you mean `learning_rate`?' });
    const upload = errorFromBody(422, { detail: [{ loc: ['body', 'file'], msg: 'record 7 has no output', type: 'data_error', line: '8' }] }, '422');
    expect(upload.message).toBe('file: record 7 has no output (line 8)');
  });

  it('merges training and evaluation points by step, lr as learning_rate', () => {
    const metrics = normalizeMetrics({
      kind: 'train',
      train: [{ step: 1, loss: 2, lr: 0.001, eval_loss: null }, { step: 2, loss: 1.5, lr: 0.0005 }],
      eval: [{ step: 2, eval_loss: 1.7, loss: null }],
      results: null,
    });
    expect(metrics.points).toEqual([
      { step: 1, loss: 2, lr: 0.001, learning_rate: 0.001 },
      { step: 2, loss: 1.5, lr: 0.0005, learning_rate: 0.0005, eval_loss: 1.7 },
    ]);
  });
});
