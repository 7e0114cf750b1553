import { createHmac } from 'node:crypto';
import { ALERT_SIGNATURE_HEADER, type AlertWebhookBody } from '../../protocol';
import type { Logger } from '../logger';
import type { OpsMetrics } from './ops.metrics';

/** `sha256=<hex HMAC-SHA256 of the raw body>`: what a receiver recomputes with the shared secret. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface WebhookOptions {
  url: string;
  secret: string | undefined;
  logger: Logger;
  metrics?: OpsMetrics;
  /** Attempts after the first (default 5). */
  retries?: number;
  /** First retry delay; doubles each time (default 1000 ms). */
  baseDelayMs?: number;
  timeoutMs?: number;
}

/**
 * Alert webhook: each alert change is POSTed as JSON, signed, and retried with exponential
 * backoff on network errors and non-2xx answers. Deliveries go out one at a time in order, so a
 * receiver never sees `resolved` before its `firing`.
 */
export function createWebhookSender(opts: WebhookOptions) {
  const retries = opts.retries ?? 5;
  const base = opts.baseDelayMs ?? 1000;
  const timeoutMs = opts.timeoutMs ?? 5000;
  let chain: Promise<void> = Promise.resolve();
  let pending = 0;

  async function deliver(payload: AlertWebhookBody): Promise<boolean> {
    const body = JSON.stringify(payload);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'dispatch-desk-alerts',
      'x-dispatchdesk-event': `alert.${payload.status}`,
    };
    if (opts.secret) headers[ALERT_SIGNATURE_HEADER] = signBody(body, opts.secret);
    for (let attempt = 0; attempt <= retries; attempt++) {
      try {
        const res = await fetch(opts.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
        await res.body?.cancel();
        if (res.ok) {
          opts.metrics?.webhookDeliveries.inc({ outcome: 'ok' });
          return true;
        }
        opts.logger.warn({ status: res.status, attempt }, 'alert webhook refused');
      } catch (err) {
        opts.logger.warn({ err: (err as Error).message, attempt }, 'alert webhook unreachable');
      }
      if (attempt < retries) {
        opts.metrics?.webhookDeliveries.inc({ outcome: 'retry' });
        await new Promise((r) => setTimeout(r, base * 2 ** attempt));
      }
    }
    opts.metrics?.webhookDeliveries.inc({ outcome: 'failed' });
    opts.logger.error({ alert: payload.alert.id, status: payload.status }, 'alert webhook gave up');
    return false;
  }

  return {
    send(payload: AlertWebhookBody): Promise<boolean> {
      pending += 1;
      const run = chain.then(() => deliver(payload));
      chain = run.then(
        () => undefined,
        () => undefined,
      );
      return run.finally(() => (pending -= 1));
    },
    /** Resolves when everything queued so far has been delivered or given up. */
    idle: () => chain,
    pending: () => pending,
  };
}
export type WebhookSender = ReturnType<typeof createWebhookSender>;
