import type { Socket } from 'socket.io-client';
import type { Ack } from '../../protocol';
import type { TestApp } from './app';

/** One event as a socket received it, in arrival order. */
export interface Received<T = unknown> {
  event: string;
  payload: T;
}

/**
 * Record every `events` a socket receives, in order. `until` resolves as soon as the recorded
 * list satisfies a predicate (no sleeping), or rejects after `ms` with what was seen so far.
 */
export function record<T = unknown>(socket: Socket, events: readonly string[]) {
  const seen: Received<T>[] = [];
  const waiters = new Set<() => void>();
  const handlers = events.map((event) => {
    const on = (payload: T) => {
      seen.push({ event, payload });
      for (const w of [...waiters]) w();
    };
    socket.on(event, on);
    return { event, on };
  });
  return {
    seen,
    of(event: string): T[] {
      return seen.filter((r) => r.event === event).map((r) => r.payload);
    },
    until(done: (seen: Received<T>[]) => boolean, ms = 10_000): Promise<Received<T>[]> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!done(seen)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(seen);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`condition not met within ${ms} ms; received ${seen.length}: ${seen.map((s) => s.event).join(', ')}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
    /** Resolve once `n` events were recorded in total. */
    count(n: number, ms?: number): Promise<Received<T>[]> {
      return this.until((s) => s.length >= n, ms);
    },
    stop(): void {
      for (const h of handlers) socket.off(h.event, h.on);
    },
  };
}
export type Recorder<T = unknown> = ReturnType<typeof record<T>>;

/** A command every namespace answers, for every role, without side effects. */
const PROBES: Record<string, [string, unknown]> = {
  '/dispatch': ['centers:list', {}],
  '/callcenter': ['order:unwatch', { orderNo: 'barrier-probe' }],
  '/chat': ['chat:leave', { centerId: 1 }],
  '/monitor': ['monitor:stats', {}],
};

/**
 * A round trip on the socket's own connection. The server writes room emits and ack answers to
 * one ordered transport, so once the answer to a command sent after a change is back, every event
 * emitted for that change has arrived too. Used instead of sleeping before asserting absence.
 */
export async function barrier(socket: Socket): Promise<void> {
  const nsp = (socket as unknown as { nsp: string }).nsp;
  const probe = PROBES[nsp];
  if (!probe) throw new Error(`no barrier probe for ${nsp}`);
  await socket.timeout(5000).emitWithAck(probe[0], probe[1]);
}

/** Barrier on every socket, then a short grace period for anything that might still be in flight. */
export async function settle(sockets: Socket[], graceMs = 150): Promise<void> {
  await Promise.all(sockets.map(barrier));
  await new Promise((r) => setTimeout(r, graceMs));
}

/** The error code of an ack, or undefined when it succeeded. */
export function ackError<T>(res: Ack<T>): string | undefined {
  return 'error' in res ? res.error.code : undefined;
}

/** The message of the connect_error a socket gets when the namespace middleware refuses it. */
export async function connectError(t: TestApp, namespace: string, token: string | undefined): Promise<string> {
  try {
    const s = await t.connect(namespace, token);
    s.disconnect();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`expected ${namespace} to refuse the connection`);
}

export interface HttpAnswer<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

/** A JSON request to the test server; `body` is sent as-is when it is a string. */
export async function http<T = unknown>(
  t: TestApp,
  method: 'GET' | 'POST',
  path: string,
  opts: { bearer?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<HttpAnswer<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.bearer !== undefined) headers.authorization = `Bearer ${opts.bearer}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${t.url}${path}`, {
    method,
    headers,
    ...(opts.body !== undefined ? { body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : null) as T };
}

/** Sum of a prom-client counter's values over all labels. */
export async function counterTotal(counter: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await counter.get()).values.reduce((a, v) => a + v.value, 0);
}
