import type { IncomingMessage } from 'node:http';
import { SESSION_COOKIE } from '../../protocol';
import { readCookie } from '../auth/auth.service';
import { AppError } from '../errors';

/**
 * Which origins may drive this server from a browser: the configured list (PUBLIC_URL and
 * ALLOWED_ORIGINS), or, when none is configured, the origin the request itself was sent to
 * (its Host header), i.e. same-origin only.
 */
export interface OriginPolicy {
  allowed: readonly string[];
}

const header = (req: IncomingMessage, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Whether a browser Origin header may talk to this server. */
export function originAllowed(req: IncomingMessage, origin: string, policy: OriginPolicy): boolean {
  if (policy.allowed.length > 0) return policy.allowed.includes(origin);
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return false;
  }
  return host !== '' && host === header(req, 'host');
}

/**
 * Cross-site request forgery guard for state-changing requests (POST). A request authenticated
 * by `Authorization` is not cookie-bound and needs no origin. Any other request must prove it
 * comes from an allowed origin: `Origin` when the browser sent one, else `Sec-Fetch-Site:
 * same-origin`; a request with neither (not a browser: scripts, native apps) is accepted only when
 * it carries no session cookie, i.e. no ambient credentials a forger could ride.
 */
export function checkCrossSite(req: IncomingMessage, policy: OriginPolicy): void {
  if (header(req, 'authorization')) return;
  const origin = header(req, 'origin');
  if (origin !== undefined) {
    if (!originAllowed(req, origin, policy)) throw new AppError('forbidden', 'Cross-site request refused (Origin not allowed)');
    return;
  }
  const site = header(req, 'sec-fetch-site');
  if (site !== undefined) {
    if (site !== 'same-origin') throw new AppError('forbidden', 'Cross-site request refused (Sec-Fetch-Site)');
    return;
  }
  if (readCookie(header(req, 'cookie'), SESSION_COOKIE) !== undefined) {
    throw new AppError('forbidden', 'A request with the session cookie must come from this site (Origin header missing)');
  }
}

/** JSON only: a form or `text/plain` body (what a cross-site form can send) is refused. */
export function requireJsonBody(req: IncomingMessage): void {
  const type = (header(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new AppError('bad_request', 'Send the body as Content-Type: application/json');
}

/**
 * The client's address for limits and logs. Behind `TRUST_PROXY=<n>` proxies, the n-th address
 * from the right of X-Forwarded-For (what the nearest trusted proxy saw); otherwise the socket's
 * peer. A client cannot spoof it by sending its own X-Forwarded-For: untrusted hops are ignored.
 */
export function clientIp(req: IncomingMessage, trustedProxies: number): string {
  const peer = req.socket.remoteAddress ?? 'unknown';
  if (trustedProxies <= 0) return peer;
  const forwarded = (header(req, 'x-forwarded-for') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return forwarded[forwarded.length - trustedProxies] ?? forwarded[0] ?? peer;
}
