/** The create-job form's pure parts: which fields each kind has, and form values ⇄ the job's config. */
import { parse, stringify } from 'yaml';
import type { JobCreate, JobKind } from './api';

export const COMMON_KEYS: Record<JobKind, string[]> = {
  train: ['stage', 'model_name_or_path', 'adapter_name_or_path', 'template', 'dataset', 'finetuning_type', 'learning_rate', 'num_train_epochs', 'max_steps', 'per_device_train_batch_size', 'cutoff_len', 'logging_steps'],
  eval: ['task', 'model_name_or_path', 'adapter_name_or_path', 'template', 'eval_dataset', 'cutoff_len'],
  export: ['model_name_or_path', 'adapter_name_or_path', 'template', 'export_dir'],
  serve: ['model_name_or_path', 'adapter_name_or_path', 'template', 'adapters', 'max_new_tokens'],
};

export interface JobFormValues {
  kind: JobKind;
  name: string;
  stage?: string;
  model_name_or_path?: string;
  adapter_name_or_path?: string;
  template?: string;
  dataset?: string[];
  /** eval reads `eval_dataset` (training reads `dataset`). */
  eval_dataset?: string[];
  finetuning_type?: string;
  learning_rate?: number;
  length_mode?: 'epochs' | 'steps';
  num_train_epochs?: number;
  max_steps?: number;
  per_device_train_batch_size?: number;
  cutoff_len?: number;
  logging_steps?: number;
  task?: string;
  export_dir?: string;
  /** serve: extra LoRA adapters beside the base, each `name=path` (the name is the playground's model). */
  adapters?: string[];
  max_new_tokens?: number;
  gpus?: number;
  advanced?: string;
}

export const TRAIN_DEFAULTS: Partial<JobFormValues> = {
  stage: 'sft',
  template: 'shuzhiqihuang',
  finetuning_type: 'lora',
  learning_rate: 2e-4,
  length_mode: 'epochs',
  num_train_epochs: 3,
  max_steps: 100,
  per_device_train_batch_size: 4,
  cutoff_len: 1024,
  logging_steps: 10,
};

/** The advanced editor's text (YAML, of which JSON is a part) as a mapping; throws with a readable message. */
export function parseAdvanced(text: string | undefined): Record<string, unknown> {
  if (!text || !text.trim()) return {};
  const value = parse(text) as unknown;
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new Error('expected `key: value` lines (a mapping)');
  return value as Record<string, unknown>;
}

/** Form values → POST /api/jobs body. The advanced keys override the fields'. */
export function buildJob(values: JobFormValues): JobCreate {
  const config: Record<string, unknown> = {};
  for (const key of COMMON_KEYS[values.kind]) {
    if (key === 'num_train_epochs' && values.length_mode === 'steps') continue;
    if (key === 'max_steps' && values.length_mode !== 'steps') continue;
    const value = (values as unknown as Record<string, unknown>)[key];
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) {
      if (value.length) config[key] = value.join(',');
      continue;
    }
    config[key] = value;
  }
  Object.assign(config, parseAdvanced(values.advanced));
  const body: JobCreate = { kind: values.kind, name: values.name.trim(), config };
  if (typeof values.gpus === 'number') body.gpus = values.gpus;
  return body;
}

/** Keys of a serve job that the console sets (its loopback address and key file): a clone leaves them out. */
export const SERVE_OWNED = ['host', 'port', 'api_key', 'api_key_file'];

/** A job's config → form values (to clone a job): common keys into fields, the rest into the advanced editor. */
export function valuesFromConfig(kind: JobKind, name: string, config: Record<string, unknown>): Partial<JobFormValues> {
  const values: Record<string, unknown> = { kind, name };
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (kind === 'serve' && SERVE_OWNED.includes(key)) continue;
    if (COMMON_KEYS[kind].includes(key)) values[key] = (key === 'dataset' || key === 'eval_dataset' || key === 'adapters') && typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
    else rest[key] = value;
  }
  values.length_mode = 'max_steps' in config && Number(config.max_steps) > 0 ? 'steps' : 'epochs';
  values.advanced = Object.keys(rest).length ? stringify(rest) : '';
  return values as Partial<JobFormValues>;
}

const WORD = /[A-Za-z_][A-Za-z0-9_.]*/g;

/**
 * Which key a 422 is about: the keys it names (fieldErrors); else a key the message mentions, preferring the
 * advanced editor's own keys (a misspelt key lives there; the message's suggestion may name a form field).
 */
export function errorsByKey(fieldErrors: Record<string, string>, message: string, formKeys: string[], advancedKeys: string[] = []): Record<string, string> {
  if (Object.keys(fieldErrors).length) return fieldErrors;
  const words = new Set(message.match(WORD) ?? []);
  const advanced = advancedKeys.filter((key) => words.has(key));
  if (advanced.length) return Object.fromEntries(advanced.map((key) => [key, message]));
  const field = formKeys.find((key) => words.has(key));
  return field ? { [field]: message } : {};
}
