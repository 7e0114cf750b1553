import type { ServerResponse } from 'node:http';

/**
 * Security headers on every answer (pages, API, metrics).
 *
 * CSP: Next.js streams inline `<script>` tags (hydration data) in every page, so scripts need
 * 'unsafe-inline' unless every page is rendered per request with a nonce (which would turn off
 * static rendering of all pages). We keep 'unsafe-inline' for scripts and styles and otherwise
 * lock everything to this origin: no third-party script, frame, form target, plugin or base-URL
 * can be injected, and nothing may frame the app. React escapes text by default and chat is
 * rendered as text, which is what keeps injected markup out in the first place.
 * Development mode also needs 'unsafe-eval' (React's dev tooling).
 */
export function securityHeaders(dev: boolean): Record<string, string> {
  const csp = [
    "default-src 'self'",
    `script-src 'self' 'unsafe-inline'${dev ? " 'unsafe-eval'" : ''}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
  return {
    'content-security-policy': csp,
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'strict-origin-when-cross-origin',
    'cross-origin-opener-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=(self)',
  };
}

export function applyHeaders(res: ServerResponse, headers: Record<string, string>): void {
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
}
