/**
 * A test double for `fetch`: answers from a table of routes ("METHOD /path" → handler) instead of a server, and
 * records every call, so tests see what the page sent (method, path, query, JSON or form body, headers).
 */
import { vi } from 'vitest';

export interface FakeCall {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  json?: unknown;
  form?: FormData;
}

export interface FakeReply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type FakeHandler = (call: FakeCall) => FakeReply | unknown | Promise<FakeReply | unknown>;

export interface FakeFetch {
  fetch: typeof fetch;
  calls: FakeCall[];
  /** Add or replace a route, e.g. on('POST /api/jobs', () => reply(422, {...})). */
  on: (route: string, handler: FakeHandler) => void;
  callsTo: (route: string) => FakeCall[];
}

/** A reply with a status (a handler's plain return value is a 200 with that JSON body). */
export function reply(status: number, body?: unknown, headers?: Record<string, string>): FakeReply {
  return { status, body, headers, __reply: true } as FakeReply;
}

function isReply(value: unknown): value is FakeReply {
  return !!value && typeof value === 'object' && (value as { __reply?: boolean }).__reply === true;
}

function matches(pattern: string, method: string, path: string): boolean {
  const [wantMethod, wantPath] = pattern.split(' ');
  if (wantMethod !== method) return false;
  const re = new RegExp('^' + wantPath.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:\w+/g, '[^/]+') + '$');
  return re.test(path);
}

export function createFakeFetch(routes: Record<string, FakeHandler> = {}): FakeFetch {
  const table = new Map<string, FakeHandler>(Object.entries(routes));
  const calls: FakeCall[] = [];
  const impl = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url, 'http://console.test');
    const method = (init.method ?? 'GET').toUpperCase();
    const headers = { ...((init.headers as Record<string, string>) ?? {}) };
    const call: FakeCall = { method, path: url.pathname, query: url.searchParams, headers };
    if (typeof init.body === 'string') call.json = JSON.parse(init.body);
    else if (init.body instanceof FormData) call.form = init.body;
    calls.push(call);
    const route = [...table.keys()].reverse().find((pattern) => matches(pattern, method, url.pathname));
    if (!route) return new Response(JSON.stringify({ detail: `fakeFetch: no route for ${method} ${url.pathname}` }), { status: 404, headers: { 'content-type': 'application/json' } });
    const answer = await table.get(route)!(call);
    const { status = 200, body = null, headers: replyHeaders = {} } = isReply(answer) ? answer : { body: answer };
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const type = typeof body === 'string' ? 'text/plain' : 'application/json';
    return new Response(status === 204 ? null : text, { status, headers: { 'content-type': type, ...replyHeaders } });
  };
  return {
    fetch: vi.fn(impl) as unknown as typeof fetch,
    calls,
    on: (route, handler) => {
      table.delete(route);
      table.set(route, handler);
    },
    callsTo: (route) => calls.filter((call) => matches(route, call.method, call.path)),
  };
}

/** Install a fake fetch as the global one (undone after each test by vi.unstubAllGlobals in setup.ts). */
export function installFakeFetch(routes: Record<string, FakeHandler> = {}): FakeFetch {
  const fake = createFakeFetch(routes);
  vi.stubGlobal('fetch', fake.fetch);
  return fake;
}
