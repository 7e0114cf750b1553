import type { ErrorBody } from '@/protocol';

/** GET JSON from our API with the session cookie; throws the server's error message. */
export async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' } });
  const body = (await res.json().catch(() => null)) as T | { error: ErrorBody } | null;
  if (!res.ok) {
    if (res.status === 401) window.location.replace('/login');
    throw new Error(body && typeof body === 'object' && 'error' in body ? body.error.message : `HTTP ${res.status}`);
  }
  return body as T;
}

/** POST JSON; resolves with the parsed body or throws `{code, message}` from the server. */
export async function postJson<T>(path: string, data: unknown, headers: Record<string, string> = {}): Promise<T> {
  const res = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(data),
  });
  const body = (await res.json().catch(() => null)) as T | { error: ErrorBody } | null;
  if (!res.ok) {
    const err = body && typeof body === 'object' && 'error' in body ? body.error : { code: 'internal', message: `HTTP ${res.status}` };
    throw Object.assign(new Error(err.message), { code: err.code, details: (err as ErrorBody).details });
  }
  return body as T;
}
