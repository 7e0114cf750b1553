import { SESSION_COOKIE, type SessionUser } from '../../protocol';
import { readCookie, type AuthService } from '../auth/auth.service';
import { verifyApiKey, type ApiKeyInfo } from '../auth/apikeys';
import type { Db } from '../db/database';
import { AppError } from '../errors';
import type { RouteContext } from './router';

function bearer(ctx: RouteContext): string | undefined {
  const h = ctx.req.headers.authorization;
  return h?.startsWith('Bearer ') ? h.slice(7).trim() : undefined;
}

/** The signed-in user from the session cookie or a Bearer user token; 401 otherwise. */
export async function requireUser(ctx: RouteContext, auth: AuthService): Promise<SessionUser> {
  const token = bearer(ctx) ?? readCookie(ctx.req.headers.cookie, SESSION_COOKIE);
  const user = await auth.authenticate(token);
  if (!user) throw new AppError('unauthorized', 'Sign in or send a valid Bearer token');
  return user;
}

/** The calling service from `Authorization: Bearer <api key>`; 401 otherwise. */
export async function requireApiKey(ctx: RouteContext, db: Db): Promise<ApiKeyInfo> {
  const key = await verifyApiKey(db, bearer(ctx));
  if (!key) throw new AppError('unauthorized', 'Send a valid API key as Authorization: Bearer <key>');
  return key;
}

/** Either a service with an API key or a signed-in user. */
export async function requireCaller(
  ctx: RouteContext,
  db: Db,
  auth: AuthService,
): Promise<{ apiKey: ApiKeyInfo; user?: undefined } | { user: SessionUser; apiKey?: undefined }> {
  const token = bearer(ctx);
  if (token?.startsWith('ddk_')) return { apiKey: await requireApiKey(ctx, db) };
  return { user: await requireUser(ctx, auth) };
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
