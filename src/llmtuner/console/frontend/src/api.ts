/**
 * Every call the console makes to its backend, in one place (the REST API of `llmtuner console`, documented by
 * its OpenAPI schema at /openapi.json). A change of route or shape is a one-place edit here.
 *
 * The browser signs in with a session cookie (HttpOnly, set by POST /api/auth/login); writes repeat the value of
 * the readable CSRF cookie in the X-CSRF-Token header (double submit, see the backend's security.py). The
 * access_token in the login answer is for API clients and is not kept by the page.
 */

export const CSRF_COOKIE = 'llmtuner_csrf';
export const CSRF_HEADER = 'X-CSRF-Token';

export type Role = 'admin' | 'engineer' | 'viewer';
export const ROLES: Role[] = ['viewer', 'engineer', 'admin'];

export type JobStatus = 'PENDING' | 'PREPARING' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'STOPPED';
export const JOB_STATUSES: JobStatus[] = ['PENDING', 'PREPARING', 'RUNNING', 'COMPLETED', 'FAILED', 'STOPPED'];
export const ACTIVE_STATUSES: JobStatus[] = ['PENDING', 'PREPARING', 'RUNNING'];
export const FINISHED_STATUSES: JobStatus[] = ['COMPLETED', 'FAILED', 'STOPPED'];
/** serve: `llmtuner api` (an OpenAI-compatible server for the playground), running until stopped. */
export type JobKind = 'train' | 'eval' | 'export' | 'serve';
export const JOB_KINDS: JobKind[] = ['train', 'eval', 'export', 'serve'];

export interface User {
  id: number;
  username: string;
  role: Role;
  disabled?: boolean;
  created_at?: string;
  last_login_at?: string | null;
}

export interface LoginResult {
  access_token: string;
  token_type?: string;
  expires_at?: string;
  user?: User;
}

export interface GpuInfo {
  index: number;
  name?: string;
  utilization_percent?: number | null;
  memory_used_bytes?: number | null;
  memory_total_bytes?: number | null;
  temperature_c?: number | null;
  [key: string]: unknown;
}

/** The backend's system.py SystemMonitor.read(). */
export interface SystemLoad {
  cpu?: { percent?: number | null; count?: number | null; load_average?: number[] };
  memory?: { total_bytes?: number; used_bytes?: number; percent?: number | null };
  disk?: { path?: string; total_bytes?: number; used_bytes?: number; free_bytes?: number };
  gpus?: GpuInfo[];
  gpu_note?: string | null;
}

export interface Dashboard {
  counts: { datasets: number; models: number; jobs_by_status: Partial<Record<JobStatus, number>> };
  recent_jobs: JobSummary[];
  system: SystemLoad;
  scheduler?: { gpu_ids: number[]; cpu_slots: number };
}

export interface Health {
  status: string;
  version: string;
  database: string;
}

export interface Dataset {
  id: number;
  name: string;
  format: string;
  num_samples: number;
  file_type?: string;
  original_name?: string;
  file_name?: string;
  size_bytes?: number;
  sha256?: string;
  columns?: string[];
  /** Identifiers found per kind (counts only, never the text). */
  deidentification?: { counts: Record<string, number>; records_with_identifiers?: number };
  created_at?: string;
  created_by?: number | null;
  used_by_jobs?: number[];
}

/** One piece of a previewed row: `learned: false` is the masked part the loss ignores (label -100). */
export interface PreviewSegment {
  text: string;
  learned?: boolean;
  /** The opposite of learned (accepted too). */
  masked?: boolean;
}

export interface PreviewRow {
  index?: number;
  /** Preference pairs: which answer this row shows. */
  answer?: 'chosen' | 'rejected' | null;
  split?: string;
  num_tokens?: number;
  segments?: PreviewSegment[];
  /** The CLI's rendering: masked spans wrapped in ⟦ ⟧ (used when `segments` is absent). */
  text?: string;
}

export interface TokenStats {
  samples: number;
  kept: number;
  dropped: Record<string, number>;
  truncated: number;
  /** Tokens per sample: p50, p90, p95, p99, max. */
  tokens: Record<string, number>;
  total_tokens: number;
}

export interface DatasetPreview {
  dataset: string;
  format: string;
  stage: string;
  model: string;
  template: string | null;
  cutoff_len: number;
  rows: PreviewRow[];
  stats: TokenStats;
}

export interface PreviewOptions {
  /** A registered model's name: its tokenizer (and recorded template) are used. */
  model?: string;
  template?: string;
  cutoff_len?: number;
  rows?: number;
}

export interface ModelInfo {
  id: number;
  name: string;
  kind: string;
  path: string;
  architecture?: string | null;
  num_parameters?: number | null;
  size_bytes?: number | null;
  template?: string | null;
  base_model?: string | null;
  job_id?: number | null;
  created_at?: string;
  /** The config keys that use this model in a job (model_name_or_path, adapter_name_or_path). */
  config?: Record<string, string>;
}

export interface ModelCreate {
  name: string;
  path: string;
}

export interface JobEvent {
  at: string;
  from_status?: JobStatus | null;
  to_status: JobStatus;
  reason?: string | null;
}

export interface JobSummary {
  id: number;
  name: string;
  kind: JobKind;
  status: JobStatus;
  priority?: number;
  gpus?: number;
  /** What the scheduler gave it: GPU ids, or ["cpu"]. */
  devices?: Array<number | string>;
  output_dir?: string;
  stop_requested?: boolean;
  attempts?: number;
  created_by?: number | null;
  created_at?: string;
  started_at?: string | null;
  finished_at?: string | null;
}

export interface Job extends JobSummary {
  config: Record<string, unknown>;
  datasets?: string[];
  job_dir?: string;
  pid?: number | null;
  exit_code?: number | null;
  /** Why it failed, with the log's last lines. */
  error?: string | null;
  history?: JobEvent[];
}

export interface JobCreate {
  kind: JobKind;
  name: string;
  config: Record<string, unknown>;
  gpus?: number;
  priority?: number;
}

/** A serve job as the playground sees it (GET /api/playground/servers). */
export interface PlaygroundServer {
  job_id: number;
  name: string;
  status: JobStatus;
  /** Its model is loaded and it answers. */
  ready: boolean;
  /** The base first, then each adapter. */
  models: string[];
  base: string | null;
  adapters: string[];
  /** Why it is not ready. */
  message: string | null;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface PlaygroundChat {
  model: string;
  messages: ChatMessage[];
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  seed?: number;
}

export interface PlaygroundAnswer {
  model: string;
  content: string;
  finish_reason: string | null;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
  /** The server's TCM safety check of the answer: {flags, refused}. */
  safety: { flags?: unknown[]; refused?: boolean; [key: string]: unknown } | null;
  latency_s: number;
}

export interface LogLine {
  /** Byte offset of the line in the log: its id (for ordering and de-duplication). */
  n?: number;
  text: string;
  level?: string | null;
}

export interface LogsPage {
  lines: LogLine[];
  /** Where the live stream goes on from. */
  next_offset?: number;
  status?: JobStatus;
}

/** One logging step of a training run (trainer_log.jsonl); `learning_rate` is filled from `lr`. */
export interface MetricPoint {
  step: number;
  total_steps?: number;
  epoch?: number;
  loss?: number;
  eval_loss?: number;
  lr?: number;
  learning_rate?: number;
  grad_norm?: number;
  tokens_per_s?: number;
  elapsed_s?: number;
  eta_s?: number;
  [key: string]: number | undefined;
}

export interface JobMetrics {
  kind?: JobKind;
  status?: JobStatus;
  /** Training and evaluation steps merged by step, for the charts. */
  points: MetricPoint[];
  train?: MetricPoint[];
  eval?: MetricPoint[];
  latest?: MetricPoint | null;
  total_steps?: number | null;
  steps_per_second?: number | null;
  /** When finished: all_results.json (train), metrics.json (eval), export facts (export). */
  results?: Record<string, unknown> | null;
}

export interface UserCreate {
  username: string;
  password: string;
  role: Role;
}

// ---------------------------------------------------------------------------------------------------------------

/** What the server said when a call failed: the HTTP status, its message, and per-key messages of a 422. */
export class ApiError extends Error {
  status: number;
  detail: unknown;
  /** Config key (or form field) → message, from a 422 that names the bad key. */
  fieldErrors: Record<string, string>;

  constructor(status: number, message: string, detail: unknown, fieldErrors: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.detail = detail;
    this.fieldErrors = fieldErrors;
  }
}

export function readCookie(name: string): string | null {
  if (typeof document === 'undefined') return null;
  for (const part of document.cookie.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return null;
}

const LOC_SKIP = new Set(['body', 'query', 'path', 'config', 'header', 'cookie']);

function keyOfLoc(loc: unknown): string | null {
  if (!Array.isArray(loc)) return null;
  const parts = loc.filter((p) => typeof p === 'string' && !LOC_SKIP.has(p)) as string[];
  return parts.length ? parts[parts.length - 1] : null;
}

/** Turn a FastAPI error body ({detail: string | [{loc, msg}] | {message, key, suggestion}}) into an ApiError. */
export function errorFromBody(status: number, body: unknown, fallback: string): ApiError {
  const detail = body && typeof body === 'object' && 'detail' in (body as object) ? (body as { detail: unknown }).detail : body;
  const fieldErrors: Record<string, string> = {};
  let message = fallback;
  if (typeof detail === 'string' && detail) {
    message = detail;
  } else if (Array.isArray(detail)) {
    const messages: string[] = [];
    for (const item of detail) {
      if (item && typeof item === 'object') {
        const entry = item as { loc?: unknown; msg?: string; message?: string; key?: string; suggestion?: string; line?: string | number | null };
        let text = [entry.msg ?? entry.message ?? '', entry.suggestion ? `(${entry.suggestion})` : ''].join(' ').trim();
        if (entry.line !== undefined && entry.line !== null && !text.includes(String(entry.line))) text += ` (line ${entry.line})`;
        const key = entry.key ?? keyOfLoc(entry.loc);
        if (key) fieldErrors[key] = fieldErrors[key] ? `${fieldErrors[key]}; ${text}` : text;
        messages.push(key ? `${key}: ${text}` : text);
      } else if (typeof item === 'string') {
        messages.push(item);
      }
    }
    if (messages.length) message = messages.join('\n');
  } else if (detail && typeof detail === 'object') {
    const entry = detail as { message?: string; msg?: string; key?: string; field?: string; suggestion?: string; errors?: unknown };
    message = entry.message ?? entry.msg ?? fallback;
    const key = entry.key ?? entry.field;
    if (key) fieldErrors[key] = [message, entry.suggestion ? `(${entry.suggestion})` : ''].join(' ').trim();
    if (Array.isArray(entry.errors)) {
      const nested = errorFromBody(status, { detail: entry.errors }, message);
      Object.assign(fieldErrors, nested.fieldErrors);
    }
  }
  return new ApiError(status, message, detail, fieldErrors);
}

type Query = Record<string, string | number | boolean | undefined | null>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** Called with every 401 of a signed-in call (the session ended): the app goes back to the login page. */
let onUnauthorized: (() => void) | null = null;
export function setUnauthorizedHandler(handler: (() => void) | null): void {
  onUnauthorized = handler;
}

interface RequestOptions {
  json?: unknown;
  form?: FormData;
  query?: Query;
  signal?: AbortSignal;
  /** false: a 401 is the answer itself (login), not an ended session. */
  authRedirect?: boolean;
}

async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  let body: BodyInit | undefined;
  if (options.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.form) {
    body = options.form; // the browser sets the multipart boundary
  }
  if (method !== 'GET' && method !== 'HEAD') {
    const csrf = readCookie(CSRF_COOKIE);
    if (csrf) headers[CSRF_HEADER] = csrf;
  }
  let response: Response;
  try {
    response = await fetch(withQuery(path, options.query), {
      method,
      headers,
      body,
      credentials: 'same-origin',
      signal: options.signal,
    });
  } catch (error) {
    if ((error as Error)?.name === 'AbortError') throw error;
    throw new ApiError(0, `Network error: ${(error as Error)?.message ?? error}`, null);
  }
  const type = response.headers.get('content-type') ?? '';
  const data: unknown = type.includes('json') ? await response.json().catch(() => null) : await response.text();
  if (!response.ok) {
    if (response.status === 401 && options.authRedirect !== false && onUnauthorized) onUnauthorized();
    throw errorFromBody(response.status, data, `${response.status} ${response.statusText || 'error'}`);
  }
  return data as T;
}

function asList<T>(data: unknown, ...keys: string[]): T[] {
  if (Array.isArray(data)) return data as T[];
  if (data && typeof data === 'object') {
    for (const key of [...keys, 'items', 'results', 'data']) {
      const value = (data as Record<string, unknown>)[key];
      if (Array.isArray(value)) return value as T[];
    }
  }
  return [];
}

/** Rows asked for per list (the API's largest page is 1000). */
const LIST_LIMIT = 500;

// --- auth ------------------------------------------------------------------------------------------------------

export const api = {
  login(username: string, password: string): Promise<LoginResult> {
    return request<LoginResult>('POST', '/api/auth/login', { json: { username, password }, authRedirect: false });
  },
  logout(): Promise<unknown> {
    return request('POST', '/api/auth/logout', { authRedirect: false });
  },
  /** Who is signed in (from the session cookie); 401 when nobody is. */
  me(): Promise<User> {
    return request<User>('GET', '/api/auth/me', { authRedirect: false });
  },

  health(): Promise<Health> {
    return request<Health>('GET', '/api/health');
  },
  dashboard(): Promise<Dashboard> {
    return request<Dashboard>('GET', '/api/dashboard');
  },

  // --- datasets ------------------------------------------------------------------------------------------------
  async listDatasets(): Promise<Dataset[]> {
    return asList<Dataset>(await request('GET', '/api/datasets', { query: { limit: LIST_LIMIT } }), 'datasets');
  },
  getDataset(id: number | string): Promise<Dataset> {
    return request<Dataset>('GET', `/api/datasets/${id}`);
  },
  uploadDataset(file: Blob, name: string, fileName?: string): Promise<Dataset> {
    const form = new FormData();
    form.append('name', name);
    form.append('file', file, fileName ?? (file as File).name ?? 'dataset.json');
    return request<Dataset>('POST', '/api/datasets', { form });
  },
  previewDataset(id: number | string, options: PreviewOptions = {}): Promise<DatasetPreview> {
    return request<DatasetPreview>('GET', `/api/datasets/${id}/preview`, { query: { ...options } });
  },
  deleteDataset(id: number | string): Promise<unknown> {
    return request('DELETE', `/api/datasets/${id}`);
  },

  // --- models --------------------------------------------------------------------------------------------------
  async listModels(): Promise<ModelInfo[]> {
    return asList<ModelInfo>(await request('GET', '/api/models', { query: { limit: LIST_LIMIT } }), 'models');
  },
  registerModel(body: ModelCreate): Promise<ModelInfo> {
    return request<ModelInfo>('POST', '/api/models', { json: body });
  },
  deleteModel(id: number | string): Promise<unknown> {
    return request('DELETE', `/api/models/${id}`);
  },

  // --- jobs ----------------------------------------------------------------------------------------------------
  /** The newest jobs first (at most LIST_LIMIT), optionally of one status / kind. */
  async listJobs(filters: { status?: string; kind?: string } = {}): Promise<JobSummary[]> {
    return asList<JobSummary>(await request('GET', '/api/jobs', { query: { ...filters, limit: LIST_LIMIT } }), 'jobs');
  },
  getJob(id: number | string): Promise<Job> {
    return request<Job>('GET', `/api/jobs/${id}`);
  },
  createJob(body: JobCreate): Promise<Job> {
    return request<Job>('POST', '/api/jobs', { json: body });
  },
  stopJob(id: number | string): Promise<Job> {
    return request<Job>('POST', `/api/jobs/${id}/stop`);
  },
  restartJob(id: number | string): Promise<Job> {
    return request<Job>('POST', `/api/jobs/${id}/restart`);
  },
  /** deleteFiles: also remove the job's folder (config, log, output). */
  deleteJob(id: number | string, deleteFiles = false): Promise<unknown> {
    return request('DELETE', `/api/jobs/${id}`, { query: { delete_files: deleteFiles || undefined } });
  },
  /** The last `tail` lines (at most 10000), optionally only `level` and above / containing `search`. */
  async jobLogs(id: number | string, tail = 500, filters: { level?: string; search?: string } = {}): Promise<LogsPage> {
    return normalizeLogs(await request('GET', `/api/jobs/${id}/logs`, { query: { tail, ...filters } }));
  },
  /** The live stream (SSE): `line` events {offset, level, text} from `offset` on, then `end` {status}. */
  jobLogStreamUrl(id: number | string, offset?: number): string {
    return withQuery(`/api/jobs/${id}/logs/stream`, { offset });
  },
  async jobMetrics(id: number | string): Promise<JobMetrics> {
    return normalizeMetrics(await request('GET', `/api/jobs/${id}/metrics`));
  },

  // --- chat playground -----------------------------------------------------------------------------------------
  /** Serve jobs waiting or running, newest first, with the models each serves once it is ready. */
  async listServers(): Promise<PlaygroundServer[]> {
    return asList<PlaygroundServer>(await request('GET', '/api/playground/servers'), 'servers');
  },
  /** One turn for one model of a serve job's server (the console forwards it with the job's own key). */
  playgroundChat(jobId: number | string, body: PlaygroundChat): Promise<PlaygroundAnswer> {
    return request<PlaygroundAnswer>('POST', `/api/playground/${jobId}/chat`, { json: body });
  },

  // --- users (admin) -------------------------------------------------------------------------------------------
  async listUsers(): Promise<User[]> {
    return asList<User>(await request('GET', '/api/users', { query: { limit: LIST_LIMIT } }), 'users');
  },
  createUser(body: UserCreate): Promise<User> {
    return request<User>('POST', '/api/users', { json: body });
  },
  updateUser(id: number, body: Partial<Pick<User, 'role' | 'disabled'>> & { password?: string }): Promise<User> {
    return request<User>('PATCH', `/api/users/${id}`, { json: body });
  },
  deleteUser(id: number): Promise<unknown> {
    return request('DELETE', `/api/users/${id}`);
  },
};

export type Api = typeof api;

const LEVEL_RE = /\b(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b/;

/** The level a log line was written at, read from the line when the server does not say. */
export function levelOf(line: LogLine): string {
  const level = (line.level ?? LEVEL_RE.exec(line.text)?.[1] ?? 'INFO').toUpperCase();
  if (level === 'WARN') return 'WARNING';
  if (level === 'FATAL') return 'CRITICAL';
  return level;
}

export function normalizeLogLine(item: unknown, index?: number): LogLine {
  if (typeof item === 'string') return { text: item, n: index };
  const entry = (item ?? {}) as Record<string, unknown>;
  const text = String(entry.text ?? entry.line ?? entry.message ?? '');
  const n = typeof entry.offset === 'number' ? entry.offset : typeof entry.n === 'number' ? entry.n : index;
  return { text, n, level: (entry.level as string) ?? null };
}

export function normalizeLogs(data: unknown): LogsPage {
  if (typeof data === 'string') return { lines: data.split('\n').filter((l) => l.length).map((l, i) => ({ text: l, n: i })) };
  const body = (data ?? {}) as Partial<LogsPage>;
  const lines = asList<unknown>(data, 'lines').map((item, i) => normalizeLogLine(item, i));
  return { lines, next_offset: body.next_offset, status: body.status };
}

/** Training points with `learning_rate` (from `lr`), and evaluation losses merged in at their steps. */
export function normalizeMetrics(data: unknown): JobMetrics {
  const body = (Array.isArray(data) ? { train: data } : data ?? {}) as Partial<JobMetrics> & Record<string, unknown>;
  const byStep = new Map<number, MetricPoint>();
  const add = (point: MetricPoint) => {
    if (!point || typeof point.step !== 'number') return;
    const merged = { ...(byStep.get(point.step) ?? {}) } as MetricPoint;
    for (const [key, value] of Object.entries(point)) if (value !== null && value !== undefined) merged[key] = value as number;
    if (merged.learning_rate === undefined && typeof merged.lr === 'number') merged.learning_rate = merged.lr;
    byStep.set(point.step, merged);
  };
  (body.train ?? asList<MetricPoint>(body, 'points', 'history')).forEach(add);
  (Array.isArray(body.eval) ? body.eval : []).forEach(add);
  const points = [...byStep.values()].sort((a, b) => a.step - b.step);
  return { ...body, points, results: (body.results ?? null) as JobMetrics['results'] };
}
