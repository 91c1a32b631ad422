import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { PlaygroundChat, PlaygroundServer } from '../api';
import { buildJob, valuesFromConfig } from '../jobform';
import PlaygroundPage, { conversation, defaultModels } from '../pages/PlaygroundPage';
import { installFakeFetch, reply, type FakeCall, type FakeHandler } from '../test/fakeFetch';
import { renderAt, VIEWER } from '../test/render';

const READY: PlaygroundServer = { job_id: 7, name: 'tcm-serve', status: 'RUNNING', ready: true, models: ['embedded', 'tuned', 'other'], base: 'embedded', adapters: ['tuned', 'other'], message: null };
const LOADING: PlaygroundServer = { job_id: 8, name: 'loading-serve', status: 'RUNNING', ready: false, models: [], base: null, adapters: [], message: 'The server of job 8 is still loading its model' };

/** Answers each chat with the model's name and the number of messages it was sent, so tests see both. */
const echo: FakeHandler = (call: FakeCall) => {
  const body = call.json as PlaygroundChat;
  return { model: body.model, content: `${body.model} answers ${body.messages.length}`, finish_reason: 'stop', usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 }, safety: { flags: [], refused: false }, latency_s: 0.25 };
};

function routes(servers: PlaygroundServer[], chat: FakeHandler = echo): Record<string, FakeHandler> {
  return { 'GET /api/playground/servers': () => ({ items: servers }), 'POST /api/playground/:id/chat': chat };
}

function pane(side: 'left' | 'right') {
  return within(screen.getByTestId(`playground-pane-${side}`));
}

async function ask(question: string) {
  fireEvent.change(screen.getByTestId('playground-input'), { target: { value: question } });
  await userEvent.click(screen.getByTestId('playground-send'));
}

function sent(fake: ReturnType<typeof installFakeFetch>): PlaygroundChat[] {
  return fake.callsTo('POST /api/playground/:id/chat').map((call) => call.json as PlaygroundChat);
}

describe('PlaygroundPage', () => {
  it('asks the base (left) and the first adapter (right) the same question, each pane with its own history', async () => {
    const fake = installFakeFetch(routes([READY]));
    renderAt('/playground', <PlaygroundPage />);
    await waitFor(() => expect(screen.getByTestId('playground-model-left')).toHaveTextContent('embedded'));
    expect(screen.getByTestId('playground-model-right')).toHaveTextContent('tuned');
    expect(screen.getByTestId('playground-server')).toHaveTextContent('tcm-serve');

    await ask('头痛发热怎么办？');
    await waitFor(() => expect(pane('left').getByTestId('playground-answer')).toHaveTextContent('embedded answers 1'));
    expect(pane('right').getByTestId('playground-answer')).toHaveTextContent('tuned answers 1');
    const first = sent(fake);
    expect(fake.callsTo('POST /api/playground/:id/chat').every((call) => call.path === '/api/playground/7/chat')).toBe(true);
    expect(first.map((body) => body.model).sort()).toEqual(['embedded', 'tuned']);
    for (const body of first) {
      expect(body.messages).toEqual([{ role: 'user', content: '头痛发热怎么办？' }]);
      expect(body.temperature).toBe(0);
      expect(body.max_tokens).toBeUndefined(); // the server's own max_new_tokens
    }
    expect(screen.getByTestId('playground-input')).toHaveValue('');

    fireEvent.change(screen.getByTestId('playground-temperature'), { target: { value: '0.7' } });
    fireEvent.change(screen.getByTestId('playground-max-tokens'), { target: { value: '64' } });
    await ask('还有别的办法吗？');
    await waitFor(() => expect(pane('right').getAllByTestId('playground-answer')).toHaveLength(2));
    const second = sent(fake).slice(2);
    const right = second.find((body) => body.model === 'tuned')!;
    expect(right.temperature).toBe(0.7);
    expect(right.max_tokens).toBe(64);
    expect(right.messages).toEqual([
      { role: 'user', content: '头痛发热怎么办？' },
      { role: 'assistant', content: 'tuned answers 1' },
      { role: 'user', content: '还有别的办法吗？' },
    ]);
    expect(second.find((body) => body.model === 'embedded')!.messages[1]).toEqual({ role: 'assistant', content: 'embedded answers 1' });

    await userEvent.click(screen.getByTestId('playground-clear'));
    expect(screen.queryAllByTestId('playground-answer')).toHaveLength(0);
  });

  it('shows an error in its own pane and leaves the failed turn out of that pane\'s next request', async () => {
    let refused = false;
    const fake = installFakeFetch(routes([READY], (call) => {
      const body = call.json as PlaygroundChat;
      if (body.model === 'tuned' && !refused) {
        refused = true;
        return reply(429, { detail: 'The server of job 7 answered: the queue is full' });
      }
      return echo(call);
    }));
    renderAt('/playground?job=7', <PlaygroundPage />);
    await waitFor(() => expect(screen.getByTestId('playground-model-right')).toHaveTextContent('tuned'));
    await ask('失眠多梦');
    await waitFor(() => expect(pane('right').getByTestId('playground-error')).toHaveTextContent('the queue is full'));
    expect(pane('left').getByTestId('playground-answer')).toHaveTextContent('embedded answers 1');
    expect(pane('left').queryByTestId('playground-error')).toBeNull();

    await ask('舌苔白腻');
    await waitFor(() => expect(pane('right').getByTestId('playground-answer')).toHaveTextContent('tuned answers 1'));
    const retry = sent(fake).slice(2).find((body) => body.model === 'tuned')!;
    expect(retry.messages).toEqual([{ role: 'user', content: '舌苔白腻' }]);
  });

  it('sends to the model chosen in a pane', async () => {
    const fake = installFakeFetch(routes([READY]));
    renderAt('/playground', <PlaygroundPage />);
    await waitFor(() => expect(screen.getByTestId('playground-model-right')).toHaveTextContent('tuned'));
    fireEvent.mouseDown(within(screen.getByTestId('playground-model-right')).getByRole('combobox'));
    await userEvent.click(await screen.findByText('other · 适配器'));
    await ask('孕妇能用红花吗');
    await waitFor(() => expect(pane('right').getByTestId('playground-answer')).toHaveTextContent('other answers 1'));
    expect(sent(fake).map((body) => body.model).sort()).toEqual(['embedded', 'other']);
  });

  it('waits for a server that is still loading, and offers to create one when none runs', async () => {
    const fake = installFakeFetch(routes([LOADING]));
    const { unmount } = renderAt('/playground?job=8', <PlaygroundPage />, { lang: 'en' });
    expect(await screen.findByTestId('playground-loading')).toHaveTextContent('still loading its model');
    expect(screen.getByTestId('playground-input')).toBeDisabled();
    expect(screen.getByTestId('playground-send')).toBeDisabled();
    expect(fake.callsTo('POST /api/playground/:id/chat')).toHaveLength(0);
    unmount();

    installFakeFetch(routes([]));
    renderAt('/playground', <PlaygroundPage />, { lang: 'en' });
    expect(await screen.findByTestId('playground-no-servers')).toHaveTextContent('No serve job is running');
    await userEvent.click(screen.getByTestId('playground-new-server'));
    expect(screen.getByTestId('location')).toHaveTextContent('/jobs/new?kind=serve');
  });

  it('lets a viewer see the servers but not chat', async () => {
    const fake = installFakeFetch(routes([READY]));
    renderAt('/playground', <PlaygroundPage />, { user: VIEWER });
    await waitFor(() => expect(screen.getByTestId('playground-model-left')).toHaveTextContent('embedded'));
    expect(screen.getByText('只读账号：可以查看服务，但不能对话（需要工程师或管理员）')).toBeInTheDocument();
    expect(screen.getByTestId('playground-input')).toBeDisabled();
    expect(screen.getByTestId('playground-send')).toBeDisabled();
    expect(screen.queryByTestId('playground-new-server')).toBeNull();
    expect(fake.callsTo('POST /api/playground/:id/chat')).toHaveLength(0);
  });
});

describe('playground helpers and the serve job form', () => {
  it('builds a pane\'s conversation from its answered turns only', () => {
    const answer = { model: 'm', content: 'A1', finish_reason: 'stop', usage: null, safety: null, latency_s: 1 };
    expect(conversation([{ question: 'Q1', answer }, { question: 'Q2' }], 'Q3')).toEqual([
      { role: 'user', content: 'Q1' },
      { role: 'assistant', content: 'A1' },
      { role: 'user', content: 'Q3' },
    ]);
    expect(defaultModels(READY)).toEqual({ left: 'embedded', right: 'tuned' });
    expect(defaultModels({ ...READY, models: ['base'], base: 'base', adapters: [] })).toEqual({ left: 'base', right: 'base' });
  });

  it('sends a serve job\'s adapters as name=path items and leaves the console\'s keys out of a clone', () => {
    const body = buildJob({ kind: 'serve', name: ' srv ', model_name_or_path: 'embedded', template: 'shuzhiqihuang', adapters: ['tuned=/saves/lora', 'b=/saves/b'], max_new_tokens: 64, dataset: ['ignored'] });
    expect(body).toEqual({ kind: 'serve', name: 'srv', config: { model_name_or_path: 'embedded', template: 'shuzhiqihuang', adapters: 'tuned=/saves/lora,b=/saves/b', max_new_tokens: 64 } });
    const values = valuesFromConfig('serve', 'srv-copy', { ...body.config, host: '127.0.0.1', port: 40123, api_key_file: '/data/jobs/3/api_key', safety: 'refuse' });
    expect(values.adapters).toEqual(['tuned=/saves/lora', 'b=/saves/b']);
    expect(values.advanced).toBe('safety: refuse\n');
  });
});
