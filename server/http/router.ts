import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { AppError, HTTP_STATUS, nulRefusal, toErrorBody } from '../errors';
import type { Logger } from '../logger';
import { checkCrossSite, requireJsonBody, type OriginPolicy } from './origin';

export interface RouteContext {
  req: IncomingMessage;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Parse and validate the JSON body against a schema (400 on bad JSON or bad shape). */
  body<S extends z.ZodType>(schema: S): Promise<z.infer<S>>;
  /** Add a header to the answer, whatever it is (e.g. a renewed session cookie). */
  setHeader(name: string, value: string): void;
}

export interface RouteResult {
  status?: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** A handler returns a RouteResult, or any other value to be sent as a 200 JSON body. */
type Handler = (ctx: RouteContext) => Promise<unknown>;

interface Route {
  method: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
}

export const MAX_BODY_BYTES = 64 * 1024;

/**
 * Read at most MAX_BODY_BYTES. A larger body (declared or streamed) is answered 413 without
 * buffering the rest: the remainder is discarded and the connection closed after the answer.
 */
function readBody(req: IncomingMessage): Promise<string> {
  const tooLarge = () => new AppError('payload_too_large', `Body larger than ${MAX_BODY_BYTES} bytes`);
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        req.off('data', onData);
        chunks.length = 0;
        req.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function isResult(v: unknown): v is RouteResult {
  return typeof v === 'object' && v !== null && 'body' in v && Object.keys(v).every((k) => ['status', 'body', 'headers'].includes(k));
}

/**
 * A small REST router for /api: path patterns with :params, JSON in and out, and the one
 * AppError -> HTTP status mapping. Unexpected errors are logged and answered generically.
 */
export function createRouter(logger: Logger, origins: OriginPolicy = { allowed: [] }) {
  const routes: Route[] = [];

  const declared: { method: string; path: string }[] = [];

  function add(method: string, path: string, handler: Handler) {
    declared.push({ method, path });
    const keys: string[] = [];
    const pattern = new RegExp(
      '^' + path.replace(/:([a-zA-Z]+)/g, (_m, k: string) => (keys.push(k), '([^/]+)')) + '/?$',
    );
    routes.push({ method, pattern, keys, handler });
  }

  /** Returns false when no route matches the path (the caller hands the request on). */
  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const matching = routes.filter((r) => r.pattern.test(url.pathname));
    if (matching.length === 0) return false;
    const route = matching.find((r) => r.method === req.method);
    if (!route) {
      sendJson(res, 405, { error: { code: 'bad_request', message: `Method ${req.method} not allowed` } });
      return true;
    }
    const m = route.pattern.exec(url.pathname)!;
    const params: Record<string, string> = {};
    const extraHeaders: Record<string, string> = {};
    const ctx: RouteContext = {
      setHeader(name, value) {
        extraHeaders[name] = value;
      },
      req,
      params,
      query: url.searchParams,
      async body(schema) {
        const text = await readBody(req);
        let json: unknown;
        try {
          json = text === '' ? {} : JSON.parse(text);
        } catch {
          throw new AppError('bad_request', 'Body is not valid JSON');
        }
        const parsed = schema.safeParse(json);
        if (!parsed.success) throw AppError.fromZod(parsed.error, 'body');
        const refused = nulRefusal(parsed.data, 'body');
        if (refused) throw refused;
        return parsed.data;
      },
    };
    try {
      route.keys.forEach((k, i) => {
        try {
          params[k] = decodeURIComponent(m[i + 1] ?? '');
        } catch {
          throw new AppError('bad_request', `Malformed ${k} in the path`);
        }
      });
      // Every POST changes state: JSON only, and from an allowed origin unless not cookie-bound.
      if (req.method === 'POST') {
        checkCrossSite(req, origins);
        requireJsonBody(req);
      }
      const out = await route.handler(ctx);
      if (isResult(out)) sendJson(res, out.status ?? 200, out.body, { ...extraHeaders, ...out.headers });
      else sendJson(res, 200, out, extraHeaders);
    } catch (err) {
      if (!(err instanceof AppError)) logger.error({ err, path: url.pathname }, 'request failed');
      const body = toErrorBody(err);
      const retryMs = (body.details as { retryAfterMs?: number } | undefined)?.retryAfterMs;
      const headers: Record<string, string> = retryMs !== undefined ? { 'retry-after': String(Math.max(1, Math.ceil(retryMs / 1000))) } : {};
      // Do not keep a connection whose client is still sending an oversized body.
      if (body.code === 'payload_too_large') headers.connection = 'close';
      if (!res.headersSent) sendJson(res, HTTP_STATUS[body.code], { error: body }, headers);
    }
    return true;
  }

  return {
    get: (path: string, h: Handler) => add('GET', path, h),
    post: (path: string, h: Handler) => add('POST', path, h),
    /** Every route as declared (the authorization matrix checks each one). */
    list: () => [...declared],
    handle,
  };
}
export type Router = ReturnType<typeof createRouter>;
