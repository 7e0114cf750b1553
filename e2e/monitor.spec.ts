import os from 'node:os';
import type { ChildProcess } from 'node:child_process';
import { expect, signIn, signInWithToken, test, tokenFor, whoAmI } from './fixtures';
import { dropRedisPrefix, REDIS_URL, startNode, stopNode, throwAwayDatabase, webhookReceiver } from './ops-helpers';

/** Ports of the spec's own two-node cluster (inside the project's e2e range, next to E2E_PORT). */
const BASE_PORT = Number(process.env.E2E_PORT ?? 3100);
const PORT_A = BASE_PORT + 1;
const PORT_B = BASE_PORT + 2;

test.describe('operations', () => {
  test('the rider list shows a rider going offline', async ({ page, browser, request }) => {
    const riderToken = await tokenFor(request, 'rider@demo.local');
    const { riderId } = await whoAmI(request, riderToken);
    await signIn(page, 'dispatcher@demo.local');
    await page.getByTestId('tab-riders').click();
    const list = page.getByTestId('rider-list');
    const row = page.getByTestId(`rider-row-${riderId}`);
    // The list is virtualized: scroll until the demo rider's row is rendered.
    for (let i = 0; i < 30 && (await row.count()) === 0; i++) await list.evaluate((el) => el.scrollBy(0, 200));
    await expect(row).toHaveAttribute('data-presence', 'offline');

    const phone = await browser.newContext();
    await signInWithToken(phone, test.info().project.use.baseURL!, riderToken);
    const riderPage = await phone.newPage();
    await riderPage.goto('/rider');
    await expect(row).toHaveAttribute('data-presence', 'online');
    await expect(page.getByTestId(`rider-presence-${riderId}`)).toHaveText('online');
    const map = page.getByTestId(`map-rider-${riderId}`);
    if ((await map.count()) > 0) await expect(map).toHaveAttribute('data-presence', 'online');

    await phone.close(); // the phone goes away
    await expect(row).toHaveAttribute('data-presence', 'offline', { timeout: 10_000 });
    await expect(page.getByTestId(`rider-presence-${riderId}`)).toHaveText('offline');
  });

  test('the monitor refuses non-admins and sends signed-out visitors to sign in', async ({ page }) => {
    await page.goto('/monitor');
    await page.waitForURL(/\/login\?next=%2Fmonitor/);
    await signIn(page, 'dispatcher@demo.local', '/monitor');
    await expect(page.getByTestId('monitor-refused')).toContainText('for administrators');
  });

  test('shows two nodes live; killing one raises the alert on the page and at the webhook within 15 s', async ({ page }) => {
    test.setTimeout(150_000);
    const secret = 'e2e-webhook-secret-0123456789';
    const prefix = `dd-e2e-ops-${process.pid}`;
    const db = await throwAwayDatabase();
    const hooks = await webhookReceiver(secret);
    let a: ChildProcess | undefined;
    let b: ChildProcess | undefined;
    try {
      const common = {
        DATABASE_URL: db.url,
        REDIS_URL,
        REDIS_PREFIX: prefix,
        SESSION_SECRET: 'e2e-ops-session-secret-0123456789abcdef',
        DEMO_PASSWORD: 'demo',
        WORKERS: '1', // each node one process: the pid killed below is the whole node
        MONITOR_REPORT_MS: '1000',
        ALERT_NODE_DOWN_SEC: '5',
        PRESENCE_TTL_SEC: '6',
        ALERT_WEBHOOK_URL: hooks.url,
        ALERT_WEBHOOK_SECRET: secret,
      };
      // On PostgreSQL nothing is seeded unless asked: node A seeds the demo accounts (admin included).
      a = await startNode({ ...common, PORT: String(PORT_A), DEMO_SEED: 'on' });
      b = await startNode({ ...common, PORT: String(PORT_B), SERVE_PAGES: 'off', DEMO_SEED: 'off' });
      const nodeB = `${os.hostname()}:${b.pid}`;
      const urlA = `http://127.0.0.1:${PORT_A}`;

      await page.goto(`${urlA}/login?next=%2Fmonitor`);
      await page.getByTestId('login-email').fill('admin@demo.local');
      await page.getByTestId('login-password').fill('demo');
      await page.getByTestId('login-submit').click();
      await page.waitForURL(/\/monitor$/);
      const rows = page.getByTestId('monitor-node');
      await expect(rows).toHaveCount(2);
      await expect(page.locator('[data-testid="monitor-node"][data-down="false"]')).toHaveCount(2);
      await expect(page.getByTestId('monitor-link')).toHaveText('Live');
      await expect(page.getByTestId('chart-sockets').locator('canvas')).toBeVisible();

      // Let a few overviews arrive, then read the page's own update times.
      await expect.poll(() => page.evaluate(() => window.__ddMonitorUpdates?.length ?? 0), { timeout: 15_000 }).toBeGreaterThanOrEqual(5);
      const updates = await page.evaluate(() => window.__ddMonitorUpdates ?? []);
      const sorted = [...updates].sort((x, y) => x - y);
      const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
      console.info(`[monitor] update time over ${updates.length} overviews: p50 ${p(0.5).toFixed(1)} ms, p95 ${p(0.95).toFixed(1)} ms`);
      await expect(page.getByTestId('monitor-update-ms')).toContainText('update');

      const killedAt = Date.now();
      await stopNode(b, 'SIGKILL');
      const alert = page.locator(`[data-testid="monitor-alert"][data-kind="node_down"][data-subject="${nodeB}"]`);
      await expect(alert).toBeVisible({ timeout: 15_000 });
      const onPageMs = Date.now() - killedAt;
      await expect(page.locator(`[data-testid="monitor-node"][data-node="${nodeB}"]`)).toHaveAttribute('data-down', 'true');
      await expect.poll(() => hooks.got.find((h) => h.body.alert.kind === 'node_down' && h.body.alert.subject === nodeB), { timeout: 15_000 - onPageMs }).toBeTruthy();
      const hook = hooks.got.find((h) => h.body.alert.kind === 'node_down' && h.body.alert.subject === nodeB)!;
      expect(hook.valid).toBe(true);
      expect(hook.body.status).toBe('firing');
      expect(hook.at - killedAt).toBeLessThan(15_000);
      console.info(`[monitor] node_down after kill -9: on the page ${onPageMs} ms, webhook ${hook.at - killedAt} ms`);
    } finally {
      await stopNode(b, 'SIGKILL');
      await stopNode(a);
      await hooks.close();
      await db.drop();
      await dropRedisPrefix(prefix);
    }
  });
});
