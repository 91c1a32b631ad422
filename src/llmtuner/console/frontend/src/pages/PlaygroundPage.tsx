/**
 * The chat playground: one running serve job (`llmtuner api`), two panes side by side, each with a model of that
 * server (by default the base on the left and its first adapter on the right). One input sends the same
 * question to both panes; each pane keeps its own conversation (its own answers) and shows its own errors.
 *
 * The console forwards every turn to the job's server with the job's key (the browser never sees it). The chosen
 * server is kept in the URL (?job=ID). Conversations live in the page only: nothing of them is stored.
 */
import { Alert, Button, Card, Col, Empty, Input, InputNumber, Row, Select, Space, Spin, Tag, Tooltip, Typography } from 'antd';
import { ClearOutlined, PlusOutlined, ReloadOutlined, SendOutlined } from '@ant-design/icons';
import { useEffect, useMemo, useState, type KeyboardEvent } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import { api, type ApiError, type ChatMessage, type PlaygroundAnswer, type PlaygroundServer } from '../api';
import { useAuth } from '../auth';
import ErrorAlert from '../components/ErrorAlert';
import StatusTag from '../components/StatusTag';
import { asApiError, useLoad } from '../hooks';
import { useI18n } from '../i18n';

export type Side = 'left' | 'right';
const SIDES: Side[] = ['left', 'right'];
const POLL_LOADING_MS = 3000;
const POLL_READY_MS = 20000;

/** One question in one pane, and what that pane's model answered (or the error it got). */
export interface Turn {
  question: string;
  answer?: PlaygroundAnswer;
  error?: ApiError;
  pending?: boolean;
}

/** The messages a pane sends for `question`: its answered turns as user/assistant pairs, then the question.
 * A turn that failed is left out, so the conversation stays a valid alternation. */
export function conversation(turns: Turn[], question: string): ChatMessage[] {
  const messages: ChatMessage[] = [];
  for (const turn of turns) {
    if (!turn.answer) continue;
    messages.push({ role: 'user', content: turn.question }, { role: 'assistant', content: turn.answer.content });
  }
  messages.push({ role: 'user', content: question });
  return messages;
}

/** The default models of the two panes: the base on the left, the first adapter (else the base) on the right. */
export function defaultModels(server: PlaygroundServer | undefined): Record<Side, string | undefined> {
  const base = server?.base ?? server?.models[0];
  return { left: base, right: server?.adapters[0] ?? base };
}

function Pane({ side, server, model, onModel, turns }: { side: Side; server?: PlaygroundServer; model?: string; onModel: (model: string) => void; turns: Turn[] }) {
  const { t } = useI18n();
  const options = (server?.models ?? []).map((name) => ({
    value: name,
    label: name === server?.base ? `${name} · ${t('playground.base')}` : `${name} · ${t('playground.adapter')}`,
  }));
  return (
    <Card
      size="small"
      data-testid={`playground-pane-${side}`}
      title={
        <Select
          style={{ minWidth: 220 }}
          value={model}
          options={options}
          onChange={onModel}
          disabled={!server?.ready}
          placeholder={t('playground.model')}
          data-testid={`playground-model-${side}`}
        />
      }
      styles={{ body: { minHeight: 320, maxHeight: '60vh', overflowY: 'auto' } }}
    >
      {turns.length === 0 && <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t('playground.empty')} />}
      <Space direction="vertical" size="middle" style={{ width: '100%' }}>
        {turns.map((turn, index) => (
          <div key={index} data-testid="playground-turn">
            <Typography.Paragraph style={{ whiteSpace: 'pre-wrap', marginBottom: 6 }}>
              <Tag color="blue">{t('playground.you')}</Tag>
              {turn.question}
            </Typography.Paragraph>
            {turn.pending && <Spin size="small" data-testid="playground-pending" />}
            {turn.error && <Alert type="error" showIcon message={turn.error.message} data-testid="playground-error" />}
            {turn.answer && (
              <div>
                <Typography.Paragraph style={{ whiteSpace: 'pre-wrap', marginBottom: 4 }} data-testid="playground-answer">
                  {turn.answer.content}
                </Typography.Paragraph>
                <Space size="small" wrap>
                  <Typography.Text type="secondary" style={{ fontSize: 12 }}>
                    {t('playground.meta', {
                      model: turn.answer.model,
                      tokens: turn.answer.usage?.completion_tokens ?? '?',
                      seconds: turn.answer.latency_s.toFixed(1),
                    })}
                  </Typography.Text>
                  {turn.answer.finish_reason === 'length' && <Tag>{t('playground.truncated')}</Tag>}
                  {(turn.answer.safety?.flags?.length ?? 0) > 0 && (
                    <Tooltip title={JSON.stringify(turn.answer.safety?.flags)}>
                      <Tag color="red" data-testid="playground-safety">
                        {turn.answer.safety?.refused ? t('playground.refused') : t('playground.flagged', { n: turn.answer.safety?.flags?.length ?? 0 })}
                      </Tag>
                    </Tooltip>
                  )}
                </Space>
              </div>
            )}
          </div>
        ))}
      </Space>
    </Card>
  );
}

export default function PlaygroundPage() {
  const { t } = useI18n();
  const { canWrite } = useAuth();
  const [params, setParams] = useSearchParams();
  const [loadingServer, setLoadingServer] = useState(true);
  const servers = useLoad(() => api.listServers(), [], loadingServer ? POLL_LOADING_MS : POLL_READY_MS);
  const wanted = params.get('job');
  const server = useMemo(() => {
    const list = servers.data ?? [];
    return list.find((s) => String(s.job_id) === wanted) ?? (wanted ? undefined : list.find((s) => s.ready) ?? list[0]);
  }, [servers.data, wanted]);
  const [models, setModels] = useState<Record<Side, string | undefined>>({ left: undefined, right: undefined });
  const [turns, setTurns] = useState<Record<Side, Turn[]>>({ left: [], right: [] });
  const [input, setInput] = useState('');
  const [temperature, setTemperature] = useState<number | null>(0);
  // null: the server's own max_new_tokens (what the serve job was configured with)
  const [maxTokens, setMaxTokens] = useState<number | null>(null);

  useEffect(() => setLoadingServer(!server?.ready), [server?.ready]);
  // another server, or the same one once it is ready: the panes start over with its defaults
  const serverKey = `${server?.job_id ?? ''}:${server?.models.join(',') ?? ''}`;
  useEffect(() => {
    setModels(defaultModels(server));
    setTurns({ left: [], right: [] });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [serverKey]);

  const busy = turns.left.some((turn) => turn.pending) || turns.right.some((turn) => turn.pending);
  const canSend = canWrite && !!server?.ready && !!input.trim() && !busy && !!models.left && !!models.right;

  const ask = async (side: Side, jobId: number, model: string, history: Turn[], question: string) => {
    const index = history.length;
    const update = (turn: Turn) => setTurns((all) => ({ ...all, [side]: all[side].map((old, i) => (i === index ? turn : old)) }));
    try {
      const answer = await api.playgroundChat(jobId, {
        model,
        messages: conversation(history, question),
        ...(temperature !== null ? { temperature } : {}),
        ...(maxTokens !== null ? { max_tokens: maxTokens } : {}),
      });
      update({ question, answer });
    } catch (err) {
      update({ question, error: asApiError(err) });
    }
  };

  const send = () => {
    if (!canSend || !server) return;
    const question = input.trim();
    setInput('');
    const history = turns;
    setTurns({ left: [...history.left, { question, pending: true }], right: [...history.right, { question, pending: true }] });
    for (const side of SIDES) void ask(side, server.job_id, models[side]!, history[side], question);
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      send();
    }
  };

  const serverOptions = (servers.data ?? []).map((s) => ({
    value: String(s.job_id),
    label: (
      <Space size={4}>
        {s.name} <Typography.Text type="secondary">#{s.job_id}</Typography.Text>
        {s.ready ? <Tag color="green">{t('playground.ready')}</Tag> : <StatusTag status={s.status} />}
      </Space>
    ),
  }));

  return (
    <Card
      title={t('playground.title')}
      size="small"
      data-testid="playground"
      extra={
        <Space>
          <Button icon={<ReloadOutlined />} onClick={() => void servers.reload()}>
            {t('common.refresh')}
          </Button>
          {canWrite && (
            <Link to="/jobs/new?kind=serve">
              <Button icon={<PlusOutlined />} data-testid="playground-new-server">
                {t('playground.newServer')}
              </Button>
            </Link>
          )}
        </Space>
      }
    >
      <Space direction="vertical" size="middle" style={{ width: '100%' }}>
        <Typography.Paragraph type="secondary" style={{ marginBottom: 0 }}>
          {t('playground.intro')}
        </Typography.Paragraph>
        <ErrorAlert error={servers.error} />
        <Space wrap>
          <Typography.Text>{t('playground.server')}</Typography.Text>
          <Select
            style={{ minWidth: 320 }}
            value={server ? String(server.job_id) : undefined}
            options={serverOptions}
            loading={servers.loading}
            placeholder={t('playground.pickServer')}
            notFoundContent={t('playground.noServers')}
            onChange={(value: string) => setParams({ job: value }, { replace: true })}
            data-testid="playground-server"
          />
          <Tooltip title={t('playground.temperatureHelp')}>
            <Space size={4}>
              <Typography.Text>{t('playground.temperature')}</Typography.Text>
              <InputNumber min={0} max={2} step={0.1} value={temperature} onChange={setTemperature} data-testid="playground-temperature" />
            </Space>
          </Tooltip>
          <Space size={4}>
            <Typography.Text>{t('playground.maxTokens')}</Typography.Text>
            <InputNumber min={1} max={8192} step={64} value={maxTokens} onChange={setMaxTokens} placeholder={t('playground.serverDefault')} style={{ width: 140 }} data-testid="playground-max-tokens" />
          </Space>
          <Button icon={<ClearOutlined />} onClick={() => setTurns({ left: [], right: [] })} disabled={busy} data-testid="playground-clear">
            {t('playground.clear')}
          </Button>
        </Space>
        {!servers.loading && (servers.data ?? []).length === 0 && (
          <Alert type="info" showIcon message={t('playground.noServers')} description={t('playground.noServersHelp')} data-testid="playground-no-servers" />
        )}
        {wanted && servers.data && !server && <Alert type="warning" showIcon message={t('playground.gone', { id: wanted })} />}
        {server && !server.ready && (
          <Alert type="info" showIcon icon={<Spin size="small" />} message={t('playground.loading')} description={server.message} data-testid="playground-loading" />
        )}
        {!canWrite && <Alert type="warning" showIcon message={t('playground.readOnly')} />}
        <Row gutter={16}>
          {SIDES.map((side) => (
            <Col xs={24} lg={12} key={side}>
              <Pane side={side} server={server} model={models[side]} onModel={(model) => setModels((all) => ({ ...all, [side]: model }))} turns={turns[side]} />
            </Col>
          ))}
        </Row>
        <Space.Compact style={{ width: '100%' }}>
          <Input.TextArea
            value={input}
            onChange={(event) => setInput(event.target.value)}
            onKeyDown={onKeyDown}
            autoSize={{ minRows: 2, maxRows: 8 }}
            placeholder={t('playground.placeholder')}
            disabled={!canWrite || !server?.ready}
            data-testid="playground-input"
          />
          <Button type="primary" icon={<SendOutlined />} onClick={send} disabled={!canSend} loading={busy} style={{ height: 'auto' }} data-testid="playground-send">
            {t('playground.send')}
          </Button>
        </Space.Compact>
      </Space>
    </Card>
  );
}
