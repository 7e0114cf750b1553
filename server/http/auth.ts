import { SESSION_COOKIE, type SessionUser } from '../../protocol';
import type { ApiKeyVerifier } from '../auth/apikeys';
import { readCookie, type Authenticated, type AuthService } from '../auth/auth.service';
import type { ApiKeyPrincipal, Principal } from '../auth/policy';
import { SESSION_TTL_SECONDS } from '../auth/tokens';
import { AppError } from '../errors';
import type { RouteContext } from './router';

function bearer(ctx: RouteContext): string | undefined {
  const h = ctx.req.headers.authorization;
  return h?.startsWith('Bearer ') ? h.slice(7).trim() : undefined;
}

/** The session cookie, the same everywhere it is set. */
export function sessionCookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}

export interface SessionDeps {
  auth: AuthService;
  secureCookies: boolean;
}

/**
 * The signed-in caller from a Bearer user token or the session cookie; 401 otherwise. A cookie
 * whose token was renewed (expired, or the user changed) gets the next token in a new cookie:
 * browsers slide along without noticing. Bearer callers renew through POST /api/auth/renew.
 */
export async function requireSession(ctx: RouteContext, deps: SessionDeps): Promise<Authenticated> {
  const fromHeader = bearer(ctx);
  const token = fromHeader ?? readCookie(ctx.req.headers.cookie, SESSION_COOKIE);
  const session = await deps.auth.authenticate(token);
  if (!session) throw new AppError('unauthorized', 'Sign in or send a valid Bearer token');
  if (session.renewed && !fromHeader) ctx.setHeader('set-cookie', sessionCookie(session.renewed, SESSION_TTL_SECONDS, deps.secureCookies));
  return session;
}

export async function requireUser(ctx: RouteContext, deps: SessionDeps): Promise<SessionUser> {
  return (await requireSession(ctx, deps)).user;
}

/** The calling service from `Authorization: Bearer <api key>`; 401 otherwise. */
export async function requireApiKey(ctx: RouteContext, keys: ApiKeyVerifier): Promise<ApiKeyPrincipal> {
  const key = await keys.verify(bearer(ctx));
  if (!key) throw new AppError('unauthorized', 'Send a valid API key as Authorization: Bearer <key>');
  return key;
}

/** Either a service with an API key or a signed-in user. */
export async function requireCaller(ctx: RouteContext, keys: ApiKeyVerifier, session: SessionDeps): Promise<Principal> {
  const token = bearer(ctx);
  if (token?.startsWith('ddk_')) return { apiKey: await requireApiKey(ctx, keys) };
  return { user: await requireUser(ctx, session) };
}

export function idempotencyKeyOf(ctx: RouteContext): string | undefined {
  const v = ctx.req.headers['idempotency-key'];
  const key = Array.isArray(v) ? v[0] : v;
  if (key === undefined) return undefined;
  if (!/^[A-Za-z0-9_:.-]{8,100}$/.test(key)) {
    throw new AppError('bad_request', 'Idempotency-Key must be 8-100 characters of letters, digits, _ : . -');
  }
  return key;
}
