import { Alert, App, AutoComplete, Button, Card, Col, Form, Input, InputNumber, Radio, Row, Select, Space, Typography } from 'antd';
import { ArrowLeftOutlined, SendOutlined } from '@ant-design/icons';
import { useEffect, useMemo, useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { api, JOB_KINDS, type ApiError, type JobKind, type ModelInfo } from '../api';
import { useAuth } from '../auth';
import ErrorAlert from '../components/ErrorAlert';
import { EVAL_TASKS, FINETUNING_TYPES, TEMPLATES, TRAIN_STAGES } from '../constants';
import { asApiError, useLoad } from '../hooks';
import { useI18n, type MessageKey } from '../i18n';
import { buildJob, COMMON_KEYS, errorsByKey, parseAdvanced, TRAIN_DEFAULTS, valuesFromConfig, type JobFormValues } from '../jobform';

/** The value a job's model_name_or_path gets for a registered model (the server says, in its `config`). */
export function modelValue(model: ModelInfo): string {
  return model.config?.model_name_or_path ?? (model.kind === 'embedded' ? 'embedded' : model.path);
}

const ADVANCED_EXAMPLE: Record<JobKind, string> = {
  train: 'lora_rank: 16\nwarmup_ratio: 0.1\nsave_steps: 200\ndeidentify: true',
  eval: 'max_samples: 200\nmax_new_tokens: 256\nbatch_size: 16',
  export: 'export_dtype: bf16\nexport_size: 5\nexport_quantization_bit: 8',
  serve: 'max_concurrency: 8\nsafety: annotate\ntemperature: 0.7',
};

const FORM_FIELDS = ['name', 'kind', 'gpus', ...new Set(Object.values(COMMON_KEYS).flat())];

export default function JobCreatePage() {
  const { t } = useI18n();
  const { message } = App.useApp();
  const { canWrite } = useAuth();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const kind = (JOB_KINDS.includes(params.get('kind') as JobKind) ? params.get('kind') : 'train') as JobKind;
  const from = params.get('from');
  const [form] = Form.useForm<JobFormValues>();
  const [busy, setBusy] = useState(false);
  const [serverError, setServerError] = useState<ApiError | null>(null);
  const [advancedErrors, setAdvancedErrors] = useState<Record<string, string>>({});
  const models = useLoad(() => api.listModels(), []);
  const datasets = useLoad(() => api.listDatasets(), []);
  const lengthMode = Form.useWatch('length_mode', form);

  // prefill: a job to clone (?from=ID), or ?model= / ?dataset= from the models and datasets pages
  useEffect(() => {
    let alive = true;
    const base: Partial<JobFormValues> = { kind, ...(kind === 'train' ? TRAIN_DEFAULTS : {}), ...(kind === 'eval' ? { task: 'qa', template: 'shuzhiqihuang' } : {}), ...(kind === 'export' || kind === 'serve' ? { template: 'shuzhiqihuang' } : {}) };
    const dataset = params.get('dataset');
    if (dataset) base[kind === 'eval' ? 'eval_dataset' : 'dataset'] = [dataset];
    if (from) {
      api
        .getJob(from)
        .then((job) => alive && form.setFieldsValue({ ...base, ...valuesFromConfig(job.kind, `${job.name}-copy`, job.config ?? {}) }))
        .catch((err) => alive && setServerError(asApiError(err)));
    } else {
      form.resetFields();
      form.setFieldsValue(base);
    }
    return () => {
      alive = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [kind, from]);

  // ?model=NAME: once the models are known, put that model's value in the field
  useEffect(() => {
    const wanted = params.get('model');
    const model = models.data?.find((m) => m.name === wanted);
    if (model && !from) {
      setPicked(model.id);
      applyModel(model);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [models.data]);

  // a registered model fills the keys that name it (an adapter: its base and itself) and its recorded template
  const applyModel = (model: ModelInfo) => {
    form.setFieldsValue({ model_name_or_path: modelValue(model), adapter_name_or_path: model.config?.adapter_name_or_path ?? undefined, ...(model.template ? { template: model.template } : {}) });
  };
  const [picked, setPicked] = useState<number | undefined>(undefined);
  const modelOptions = useMemo(
    () => (models.data ?? []).map((m) => ({ value: m.id, label: `${m.name} (${m.kind})` })),
    [models.data],
  );
  // serve: each registered adapter can be served beside the base under its own name
  const adapterOptions = useMemo(
    () => (models.data ?? []).filter((m) => m.kind === 'adapter').map((m) => ({ value: `${m.name}=${m.path}`, label: `${m.name} (${m.path})` })),
    [models.data],
  );
  const datasetOptions = useMemo(() => (datasets.data ?? []).map((d) => ({ value: d.name, label: `${d.name} (${d.num_samples})` })), [datasets.data]);

  const submit = async (values: JobFormValues) => {
    setServerError(null);
    setAdvancedErrors({});
    form.setFields([...FORM_FIELDS, 'advanced'].map((name) => ({ name: name as keyof JobFormValues, errors: [] })));
    let body;
    try {
      body = buildJob({ ...values, kind });
    } catch (err) {
      form.setFields([{ name: 'advanced', errors: [t('create.advancedInvalid', { error: (err as Error).message })] }]);
      return;
    }
    setBusy(true);
    try {
      const job = await api.createJob(body);
      message.success(t('create.created'));
      navigate(`/jobs/${job.id}`);
    } catch (err) {
      const apiError = asApiError(err);
      setServerError(apiError);
      let advancedKeys: string[] = [];
      try {
        advancedKeys = Object.keys(parseAdvanced(values.advanced));
      } catch {
        /* already checked above */
      }
      const byKey = errorsByKey(apiError.fieldErrors, apiError.message, FORM_FIELDS, advancedKeys);
      const onFields: Array<{ name: keyof JobFormValues; errors: string[] }> = [];
      const elsewhere: Record<string, string> = {};
      for (const [key, text] of Object.entries(byKey)) {
        if (FORM_FIELDS.includes(key) && !advancedKeys.includes(key)) onFields.push({ name: key as keyof JobFormValues, errors: [text] });
        else elsewhere[key] = text;
      }
      form.setFields(onFields);
      setAdvancedErrors(elsewhere); // shown under the advanced editor, each with its key
    } finally {
      setBusy(false);
    }
  };

  if (!canWrite) return <Alert type="warning" showIcon message={t('common.readOnly')} />;

  const numberItem = (name: keyof JobFormValues, label: MessageKey, props: Record<string, unknown> = {}) => (
    <Form.Item name={name} label={label.startsWith('create.') || label.startsWith('datasets.') ? t(label) : label}>
      <InputNumber style={{ width: '100%' }} data-testid={`field-${name}`} {...props} />
    </Form.Item>
  );

  return (
    <Space direction="vertical" size="middle" style={{ width: '100%' }}>
      <Link to="/jobs">
        <ArrowLeftOutlined /> {t('common.back')}
      </Link>
      <Card title={t('create.title')} size="small" data-testid="job-create">
        <Form<JobFormValues>
          form={form}
          layout="vertical"
          onFinish={submit}
          onValuesChange={(changed: Partial<JobFormValues>) => {
            // an edited field loses the server's message about it
            form.setFields(Object.keys(changed).map((name) => ({ name: name as keyof JobFormValues, errors: [] })));
            if ('advanced' in changed) setAdvancedErrors({});
            setServerError(null);
          }}
        >
          <Row gutter={24}>
            <Col xs={24} xl={14}>
              <Form.Item label={t('create.kind')}>
                <Radio.Group
                  value={kind}
                  optionType="button"
                  onChange={(event) => setParams({ kind: event.target.value }, { replace: true })}
                  options={JOB_KINDS.map((value) => ({ value, label: t(`jobs.kind.${value}` as MessageKey) }))}
                />
              </Form.Item>
              <Row gutter={16}>
                <Col span={12}>
                  <Form.Item name="name" label={t('create.name')} tooltip={t('create.nameHelp')} rules={[{ required: true, whitespace: true, message: t('create.required') }]}>
                    <Input data-testid="field-name" placeholder="sft-tcm-v1" maxLength={128} />
                  </Form.Item>
                </Col>
                <Col span={12}>
                  {kind === 'train' && (
                    <Form.Item name="stage" label={t('create.stage')}>
                      <Select options={TRAIN_STAGES.map((value) => ({ value, label: value }))} />
                    </Form.Item>
                  )}
                  {kind === 'eval' && (
                    <Form.Item name="task" label={t('create.evalTask')}>
                      <Select options={EVAL_TASKS.map((value) => ({ value, label: value }))} />
                    </Form.Item>
                  )}
                </Col>
              </Row>
              <Row gutter={16}>
                <Col span={10}>
                  <Form.Item label={t('create.pickModel')}>
                    <Select
                      showSearch
                      allowClear
                      value={picked}
                      data-testid="pick-model"
                      optionFilterProp="label"
                      options={modelOptions}
                      onChange={(value?: number) => {
                        setPicked(value);
                        const model = models.data?.find((m) => m.id === value);
                        if (model) applyModel(model);
                      }}
                    />
                  </Form.Item>
                </Col>
                <Col span={14}>
                  <Form.Item name="model_name_or_path" label={t('create.model')} tooltip={t('create.modelHelp')} rules={[{ required: true, message: t('create.required') }]}>
                    <Input data-testid="field-model" placeholder="embedded" onChange={() => setPicked(undefined)} />
                  </Form.Item>
                </Col>
              </Row>
              {(kind !== 'train' || form.getFieldValue('adapter_name_or_path')) && (
                <Form.Item name="adapter_name_or_path" label={t('create.adapter')}>
                  <Input placeholder="saves/lora/sft" />
                </Form.Item>
              )}
              <Row gutter={16}>
                <Col span={12}>
                  <Form.Item name="template" label={t('create.template')}>
                    <AutoComplete options={TEMPLATES.map((value) => ({ value }))} data-testid="field-template" />
                  </Form.Item>
                </Col>
                <Col span={12}>
                  {kind === 'train' && (
                    <Form.Item name="finetuning_type" label={t('create.finetuningType')}>
                      <Select options={FINETUNING_TYPES.map((value) => ({ value, label: value }))} />
                    </Form.Item>
                  )}
                </Col>
              </Row>
              {kind === 'serve' && (
                <>
                  <Form.Item name="adapters" label={t('create.adapters')} tooltip={t('create.adaptersHelp')}>
                    <Select mode="tags" options={adapterOptions} data-testid="field-adapters" tokenSeparators={[',']} placeholder="tuned=saves/lora/sft" />
                  </Form.Item>
                  <Row gutter={16}>
                    <Col span={8}>{numberItem('max_new_tokens', 'create.maxNewTokens', { min: 1, max: 8192 })}</Col>
                    <Col span={8}>{numberItem('gpus', 'create.gpus', { min: 0, max: 64, placeholder: '0 = CPU' })}</Col>
                  </Row>
                  <Alert type="info" showIcon message={t('create.serveNote')} style={{ marginBottom: 16 }} />
                </>
              )}
              {kind !== 'export' && kind !== 'serve' && (
                <Form.Item name={kind === 'eval' ? 'eval_dataset' : 'dataset'} label={t('create.dataset')} rules={[{ required: true, message: t('create.required') }]}>
                  <Select mode="tags" options={datasetOptions} data-testid="field-dataset" tokenSeparators={[',']} />
                </Form.Item>
              )}
              {kind === 'export' && (
                <Form.Item name="export_dir" label={t('create.exportDir')}>
                  <Input placeholder="(default: the job's folder)" />
                </Form.Item>
              )}
              {kind === 'train' && (
                <>
                  <Row gutter={16}>
                    <Col span={8}>{numberItem('learning_rate', 'create.learningRate', { min: 0, step: 1e-5, stringMode: false })}</Col>
                    <Col span={8}>{numberItem('per_device_train_batch_size', 'create.batchSize', { min: 1 })}</Col>
                    <Col span={8}>{numberItem('cutoff_len', 'create.cutoffLen', { min: 16, step: 128 })}</Col>
                  </Row>
                  <Form.Item name="length_mode" label={t('create.length')}>
                    <Radio.Group
                      optionType="button"
                      data-testid="field-length-mode"
                      options={[
                        { value: 'epochs', label: t('create.byEpochs') },
                        { value: 'steps', label: t('create.bySteps') },
                      ]}
                    />
                  </Form.Item>
                  <Row gutter={16}>
                    <Col span={8}>
                      {lengthMode === 'steps'
                        ? numberItem('max_steps', 'create.maxSteps', { min: 1 })
                        : numberItem('num_train_epochs', 'create.epochs', { min: 0.01, step: 1 })}
                    </Col>
                    <Col span={8}>{numberItem('logging_steps', 'create.loggingSteps', { min: 1 })}</Col>
                    <Col span={8}>{numberItem('gpus', 'create.gpus', { min: 0, max: 64, placeholder: '0 = CPU' })}</Col>
                  </Row>
                </>
              )}
              {kind === 'eval' && <Row gutter={16}><Col span={8}>{numberItem('cutoff_len', 'create.cutoffLen', { min: 16, step: 128 })}</Col></Row>}
            </Col>
            <Col xs={24} xl={10}>
              <Form.Item name="advanced" label={t('create.advanced')} extra={t('create.advancedHelp')} validateStatus={Object.keys(advancedErrors).length ? 'error' : undefined}>
                <Input.TextArea
                  data-testid="field-advanced"
                  autoSize={{ minRows: 10, maxRows: 24 }}
                  spellCheck={false}
                  style={{ fontFamily: 'ui-monospace, Menlo, Consolas, monospace', fontSize: 13 }}
                  placeholder={ADVANCED_EXAMPLE[kind]}
                />
              </Form.Item>
              {Object.keys(advancedErrors).length > 0 && (
                <Typography.Paragraph type="danger" data-testid="advanced-errors">
                  {Object.entries(advancedErrors).map(([key, text]) => (
                    <div key={key} style={{ whiteSpace: 'pre-wrap' }}>
                      <Typography.Text code>{key}</Typography.Text> {text.trim()}
                    </div>
                  ))}
                </Typography.Paragraph>
              )}
              <ErrorAlert error={serverError} title={serverError?.status === 422 ? t('create.rejected') : undefined} />
            </Col>
          </Row>
          <Button type="primary" htmlType="submit" icon={<SendOutlined />} loading={busy} data-testid="job-submit">
            {t('create.submit')}
          </Button>
        </Form>
      </Card>
    </Space>
  );
}
