import { chromium, type Page } from '@playwright/test';
import { io, type Socket } from 'socket.io-client';
import { fmt, intOption, markdownTable, summarize } from './lib';
import type { Benchmark, BenchContext, BenchReport } from './types';

/**
 * How responsive /monitor stays with many sockets attached. A real Chromium opens the monitor as
 * an admin and records, in the page, the time from each pushed overview arriving to the frame
 * after it is painted (the figure in the page's corner). Baseline: the same page with no extra
 * sockets, in the same run; then `--sockets` rider sockets (websocket, spread over source
 * addresses) are attached while orders stream in, and the page is measured again. The monitor is
 * built on per-node counters, so its work should not grow with the number of sockets.
 */

const EXECUTABLE = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function collectUpdates(page: Page, count: number, timeoutMs: number): Promise<{ times: number[]; overviewBytes: number; sockets: string }> {
  // The page keeps its last 500 update times; this phase's are the ones after `from`.
  const from = await page.evaluate(() => window.__ddMonitorUpdates?.length ?? 0);
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const n = await page.evaluate(() => window.__ddMonitorUpdates?.length ?? 0);
    if (n - from >= count) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const times = await page.evaluate((skip) => (window.__ddMonitorUpdates ?? []).slice(skip), from);
  const sockets = (await page.getByTestId('monitor-summary').textContent()) ?? '';
  const overviewBytes = await page.evaluate(() => document.querySelector('[data-testid="monitor-nodes"]')?.outerHTML.length ?? 0);
  return { times, overviewBytes, sockets };
}

export const monitorUpdate: Benchmark = {
  name: 'monitor-update',
  summary: 'time from a pushed /monitor overview to the painted page, without and with many sockets attached',
  options: [
    { name: 'sockets', description: 'rider sockets attached for the loaded phase', defaultText: '2000' },
    { name: 'updates', description: 'overviews measured per phase (one every 2 s)', defaultText: '8' },
  ],
  async run(ctx: BenchContext): Promise<BenchReport> {
    const n = intOption(ctx.args, 'sockets', 2000, 1);
    const updates = intOption(ctx.args, 'updates', 8, 2);
    const server = await ctx.server();
    const riderToken = await server.token('rider@demo.local');
    const hqToken = await server.token('hq@demo.local');
    const browser = await chromium.launch({ executablePath: EXECUTABLE, args: ARGS });
    const sockets: Socket[] = [];
    let streaming = true;
    const notes: string[] = [];
    try {
      const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 }, baseURL: server.url })).newPage();
      await page.goto('/login?next=%2Fmonitor');
      await page.getByTestId('login-email').fill('admin@demo.local');
      await page.getByTestId('login-password').fill(process.env.DEMO_PASSWORD || 'demo');
      await page.getByTestId('login-submit').click();
      await page.waitForURL((u) => u.pathname === '/monitor');
      await page.getByTestId('monitor-node').first().waitFor();

      ctx.log(`monitor-update: baseline, ${updates} overviews`);
      const base = await collectUpdates(page, updates, updates * 2000 + 15_000);

      ctx.log(`monitor-update: attaching ${n} rider sockets`);
      let failed = 0;
      for (let i = 0; i < n; i += 100) {
        const batch = Array.from({ length: Math.min(100, n - i) }, (_, k) => {
          const s = io(`${server.url}/dispatch`, {
            transports: ['websocket'],
            auth: { token: riderToken },
            reconnection: false,
            forceNew: true,
            localAddress: `127.0.0.${2 + ((i + k) % 18)}`,
          } as Parameters<typeof io>[1]);
          sockets.push(s);
          return new Promise<void>((resolve) => {
            s.once('connect', () => resolve());
            s.once('connect_error', () => ((failed += 1), resolve()));
          });
        });
        await Promise.all(batch);
        if ((i / 100) % 5 === 0) ctx.log(`monitor-update: ${Math.min(i + 100, n)} / ${n} connected`);
      }
      if (failed) notes.push(`${failed} of ${n} sockets failed to connect`);
      const stream = (async () => {
        let i = 0;
        while (streaming) {
          i += 1;
          await fetch(`${server.url}/api/orders`, {
            method: 'POST',
            headers: { authorization: `Bearer ${hqToken}`, 'content-type': 'application/json' },
            body: JSON.stringify({ centerId: 1 + (i % 3), shopName: 'Mon Shop', shopAddress: '1 Mon-ro', customerName: 'Mon', customerAddress: `${i} Mon-ro`, items: 'x', totalWon: 1000, lat: 37.5, lng: 127 }),
          }).catch(() => undefined);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      ctx.log(`monitor-update: loaded, ${updates} overviews`);
      const loaded = await collectUpdates(page, updates, updates * 2000 + 30_000);
      streaming = false;
      await stream;

      const b = summarize(base.times);
      const l = summarize(loaded.times);
      const rows = [
        ['no extra sockets', String(base.times.length), fmt(b.p50, 1), fmt(b.p90, 1), fmt(b.max, 1), base.sockets],
        [`${n - failed} rider sockets + 10 orders/s`, String(loaded.times.length), fmt(l.p50, 1), fmt(l.p90, 1), fmt(l.max, 1), loaded.sockets],
      ];
      return {
        title: 'Monitor page update time (overview received → painted)',
        blocks: [
          markdownTable(['phase', 'overviews', 'p50 ms', 'p90 ms', 'max ms', 'page summary'], rows),
          `Loaded / baseline p50: **${fmt(l.p50 / Math.max(b.p50, 0.01), 2)}×**; the node table stayed ${loaded.overviewBytes} characters of HTML (baseline ${base.overviewBytes}): counters, not socket lists.`,
        ],
        notes,
      };
    } finally {
      streaming = false;
      for (const s of sockets) s.disconnect();
      await browser.close();
    }
  },
};
