import { credentialsSchema, SESSION_COOKIE } from '../../protocol';
import { requireUser } from '../http/auth';
import type { RateLimit } from '../http/rate-limit';
import type { RouteContext, Router } from '../http/router';
import type { AuthService } from './auth.service';
import { SESSION_TTL_SECONDS } from './tokens';

function clientIp(ctx: RouteContext): string {
  return ctx.req.socket.remoteAddress ?? 'unknown';
}

export function registerAuthRoutes(router: Router, deps: { auth: AuthService; loginLimit: RateLimit; secureCookies: boolean }) {
  const cookie = (value: string, maxAge: number) =>
    `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${deps.secureCookies ? '; Secure' : ''}`;

  async function login(ctx: RouteContext) {
    const { email, password } = await ctx.body(credentialsSchema);
    await deps.loginLimit(`${clientIp(ctx)}|${email}`);
    return deps.auth.login(email, password);
  }

  /** Browser sign-in: sets the httpOnly session cookie. */
  router.post('/api/auth/login', async (ctx) => {
    const { token, user } = await login(ctx);
    return { body: { user }, headers: { 'set-cookie': cookie(token, SESSION_TTL_SECONDS) } };
  });
  router.post('/api/auth/logout', () => Promise.resolve({ body: { ok: true }, headers: { 'set-cookie': cookie('', 0) } }));
  router.get('/api/auth/me', async (ctx) => ({ user: await requireUser(ctx, deps.auth) }));
  /** Non-browser clients (mobile apps, scripts): a token for `auth: { token }` or a Bearer header. */
  router.post('/api/auth/token', (ctx) => login(ctx));
}
