import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { riderPresence, type PresenceView } from '../../protocol';
import { ConfigError, loadConfig } from '../../server/config';
import { signBody } from '../../server/ops/webhook';

describe('operations configuration', () => {
  it('has defaults that alert within 15 s of a node stopping', () => {
    const c = loadConfig({});
    expect(c.redisPrefix).toBe('dd');
    expect(c.ops).toEqual({ presenceTtlMs: 30_000, presenceSilentAfterMs: 120_000, reportIntervalMs: 2000, nodeDownMs: 10_000, lagMs: 500 });
    // Worst case: last report just before the stop + threshold + one evaluation, or a new evaluator after the lease (3 intervals).
    expect(c.ops.nodeDownMs + 2 * c.ops.reportIntervalMs).toBeLessThanOrEqual(15_000);
  });

  it('reads and checks every new variable', () => {
    const c = loadConfig({
      REDIS_PREFIX: 'shop-a',
      PRESENCE_TTL_SEC: '12',
      PRESENCE_SILENT_AFTER_SEC: '60',
      MONITOR_REPORT_MS: '1000',
      ALERT_NODE_DOWN_SEC: '5',
      ALERT_LAG_MS: '250',
      ALERT_WEBHOOK_URL: 'https://ops.example/hooks/dd',
      ALERT_WEBHOOK_SECRET: 'a-long-enough-secret',
    });
    expect(c.redisPrefix).toBe('shop-a');
    expect(c.ops).toEqual({ presenceTtlMs: 12_000, presenceSilentAfterMs: 60_000, reportIntervalMs: 1000, nodeDownMs: 5000, lagMs: 250, webhookUrl: 'https://ops.example/hooks/dd', webhookSecret: 'a-long-enough-secret' });
  });

  it.each([
    [{ REDIS_PREFIX: 'has space' }, /REDIS_PREFIX/],
    [{ PRESENCE_TTL_SEC: '1' }, /PRESENCE_TTL_SEC/],
    [{ ALERT_LAG_MS: 'soon' }, /ALERT_LAG_MS/],
    [{ ALERT_WEBHOOK_URL: 'ftp://x.example/h', ALERT_WEBHOOK_SECRET: 'a-long-enough-secret' }, /ALERT_WEBHOOK_URL: must be an http\(s\)/],
    [{ ALERT_WEBHOOK_URL: 'https://x.example/h' }, /ALERT_WEBHOOK_SECRET: must be set when ALERT_WEBHOOK_URL is/],
    [{ ALERT_WEBHOOK_URL: 'https://x.example/h', ALERT_WEBHOOK_SECRET: 'short' }, /ALERT_WEBHOOK_SECRET: must be at least 16/],
  ])('refuses %o', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe('alert webhook signature', () => {
  it('is sha256=<hex HMAC-SHA256 of the raw body>', () => {
    const body = JSON.stringify({ status: 'firing' });
    expect(signBody(body, 'k')).toBe(`sha256=${createHmac('sha256', 'k').update(body).digest('hex')}`);
    expect(signBody(body, 'k')).not.toBe(signBody(`${body} `, 'k'));
  });
});

describe('rider presence folding', () => {
  const e = (riderId: number, silent: boolean) => ({ riderId, silent }) as PresenceView;
  it('is online if any connection is live, silent if all are silent, offline with none', () => {
    expect(riderPresence([e(1, true), e(1, false)], 1)).toBe('online');
    expect(riderPresence([e(1, true), e(2, false)], 1)).toBe('silent');
    expect(riderPresence([e(2, false)], 1)).toBe('offline');
  });
});
