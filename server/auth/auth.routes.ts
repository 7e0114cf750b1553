import { z } from 'zod';
import { credentialsSchema, idSchema, ROLES } from '../../protocol';
import { requireSession, requireUser, sessionCookie, type SessionDeps } from '../http/auth';
import type { FailureLimit } from '../http/rate-limit';
import type { RouteContext, Router } from '../http/router';
import { AppError } from '../errors';
import { policy, requireAllowed } from './policy';
import { SESSION_TTL_SECONDS } from './tokens';

export interface AuthRouteDeps extends SessionDeps {
  /** Wrong passwords per client address and email (successful sign-ins do not count). */
  loginLimit: FailureLimit;
  /** The client's address as limits count it (see TRUST_PROXY). */
  clientIp: (ctx: RouteContext) => string;
}

export function registerAuthRoutes(router: Router, deps: AuthRouteDeps) {
  const { auth } = deps;
  const cookie = (value: string, maxAge: number) => sessionCookie(value, maxAge, deps.secureCookies);

  async function login(ctx: RouteContext) {
    const { email, password } = await ctx.body(credentialsSchema);
    const key = `${deps.clientIp(ctx)}|${email}`;
    await deps.loginLimit.check(key);
    try {
      const session = await auth.login(email, password);
      await deps.loginLimit.succeeded(key);
      return session;
    } catch (err) {
      if (err instanceof AppError && err.code === 'unauthorized') await deps.loginLimit.failed(key);
      throw err;
    }
  }

  /** Browser sign-in: sets the httpOnly session cookie (its token renews itself while in use). */
  router.post('/api/auth/login', async (ctx) => {
    const { token, user } = await login(ctx);
    return { body: { user }, headers: { 'set-cookie': cookie(token, SESSION_TTL_SECONDS) } };
  });
  /** Sign-out ends the session on the server: its tokens stop working on every node at once. */
  router.post('/api/auth/logout', async (ctx) => {
    const session = await requireSession(ctx, deps).catch(() => null);
    if (session) await auth.logout(session.user.id, session.sid);
    return { body: { ok: true }, headers: { 'set-cookie': cookie('', 0) } };
  });
  router.get('/api/auth/me', async (ctx) => ({ user: await requireUser(ctx, deps) }));
  /** Non-browser clients (mobile apps, scripts): a token for `auth: { token }` or a Bearer header. */
  router.post('/api/auth/token', async (ctx) => {
    const { token, user } = await login(ctx);
    return { token, user };
  });
  /** The next token for a live session (send the current one, even just expired, as Bearer). */
  router.post('/api/auth/renew', async (ctx) => {
    const h = ctx.req.headers.authorization;
    const renewed = await auth.renew(h?.startsWith('Bearer ') ? h.slice(7).trim() : undefined);
    if (!renewed?.renewed) return { status: 401, body: { error: { code: 'unauthorized', message: 'The session has ended; sign in again' } } };
    return { token: renewed.renewed, user: renewed.user };
  });

  // ------------------------------------------------------------------ administration (admins only)
  const userIdOf = (ctx: RouteContext) => {
    const id = idSchema.safeParse(Number(ctx.params.userId));
    if (!id.success) throw new AppError('bad_request', 'userId must be a positive integer');
    return id.data;
  };
  const admin = async (ctx: RouteContext) => requireAllowed(policy.administer(await requireUser(ctx, deps)), 'Only admins manage users');
  /** Change a user's role: their open sockets are re-authorized within seconds. */
  router.post('/api/admin/users/:userId/role', async (ctx) => {
    await admin(ctx);
    const { role } = await ctx.body(z.object({ role: z.enum(ROLES) }));
    return { user: await auth.setRole(userIdOf(ctx), role) };
  });
  /** Replace a user's center memberships: sockets in centers no longer theirs are dropped. */
  router.post('/api/admin/users/:userId/centers', async (ctx) => {
    await admin(ctx);
    const { centerIds } = await ctx.body(z.object({ centerIds: z.array(idSchema).max(1000) }));
    return { user: await auth.setCenters(userIdOf(ctx), centerIds) };
  });
  /** End every session of a user (a lost phone, a leaver). */
  router.post('/api/admin/users/:userId/logout', async (ctx) => {
    await admin(ctx);
    return { revoked: (await auth.logoutEverywhere(userIdOf(ctx))).length };
  });
}
