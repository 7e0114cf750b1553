import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type CDPSession, type Page } from '@playwright/test';
import { io as ioc } from 'socket.io-client';
import { isAckError, type Ack, type DeliveryRow, type DeliverySyncResponse, type RiderRow } from '../protocol';
import { COMMANDS_PER_SECOND } from '../server/realtime/auth.middleware';
import { addDeliveries } from './assign-dialog';
import { fmt, intOption, markdownTable, percentile, sleep, type ServerHandle } from './lib';
import type { Benchmark, BenchContext, BenchReport } from './types';

/**
 * The browser budget: the real dispatcher board in a real Chromium with N live rows while row
 * updates stream in (real reassignments: each a committed change the server broadcasts to the
 * center's room and HQ's all-centers room), measured in the page:
 * - long tasks over 50 ms (PerformanceObserver 'longtask') during the storm;
 * - frame time p50/p95/max (requestAnimationFrame deltas);
 * - opening the assign dialog during the storm: the browser's Event Timing duration of the click
 *   (input delay + handlers + next paint; 8 ms granularity) and click -> first frame with the
 *   dialog open;
 * - JS heap after a forced GC (CDP) at the end, and for an HQ tab on all centers at its start and
 *   after `--hq-seconds` of updates.
 * Side by side in the same run: the board as shipped (virtualized list) and the same board with
 * `?list=all`, a diagnostic mode that renders every row (the naive list).
 */

const EXECUTABLE = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface PageStats {
  longTasks: number[];
  frames: number[];
  clicks: number[];
  opens: number[];
}

interface VariantResult {
  label: string;
  rowsListed: number;
  updatesSent: number;
  /** Reassignments the server refused or did not answer in 10 s (not delivered to the page). */
  updatesFailed: number;
  stormS: number;
  failedOpens: number;
  longTasks: number;
  longestTaskMs: number;
  longTaskMs: number;
  frameP50: number;
  frameP95: number;
  frameMax: number;
  clickP50: number;
  clickMax: number;
  openP50: number;
  openMax: number;
  heapMb: number;
  loadMs: number;
  /** Elements in the page once the list is loaded (what style and layout work over). */
  domElements: number;
}

/**
 * Installed before the page's own scripts: the long-task and Event Timing observers write into
 * window.__live (only while `on`).
 */
function installProbes(): void {
  const w = window as unknown as { __live: PageStats & { on: boolean; t0: number } };
  w.__live = { on: false, t0: 0, longTasks: [], frames: [], clicks: [], opens: [] };
  document.addEventListener('click', (e) => (w.__live.t0 = e.timeStamp), true);
  new PerformanceObserver((list) => {
    if (!w.__live.on) return;
    for (const e of list.getEntries()) w.__live.longTasks.push(e.duration);
  }).observe({ type: 'longtask', buffered: false });
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.name === 'click' && w.__live.on) w.__live.clicks.push(e.duration);
  }).observe({ type: 'event', durationThreshold: 16 } as PerformanceObserverInit);
}

/**
 * Start measuring in the loaded page: frame deltas, and click -> first frame with the dialog
 * open. Kept as source text: the bench runs through tsx, whose transform would wrap named inner
 * functions in a helper the page does not have.
 */
const START_PROBES = `(() => {
  const live = window.__live;
  live.on = true;
  let last = 0;
  requestAnimationFrame(function frame(t) {
    if (!live.on) return;
    if (last) live.frames.push(t - last);
    last = t;
    requestAnimationFrame(frame);
  });
  new MutationObserver(() => {
    const d = document.querySelector('[data-testid="assign-dialog"][open]');
    if (d && live.t0) {
      const t0 = live.t0;
      live.t0 = 0;
      requestAnimationFrame(() => setTimeout(() => live.opens.push(performance.now() - t0)));
    }
  }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['open'] });
})()`;

async function heapMb(cdp: CDPSession): Promise<number> {
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  return usedSize / 1048576;
}

/**
 * Real row updates at `perSecond` until stopped: a dispatcher's work, reassigning random waiting or
 * assigned deliveries among the center's on-duty riders with `delivery:assign` (expected version
 * given, so each is one committed change the server then broadcasts to the center's room and
 * HQ's). Commands are spread over enough sockets to stay under the per-socket command limit.
 */
async function streamReassignments(server: ServerHandle, token: string, centerId: number, rows: DeliveryRow[], perSecond: number) {
  const sockets = await Promise.all(
    Array.from({ length: Math.ceil(perSecond / (COMMANDS_PER_SECOND * 0.6)) }, async () => {
      const s = ioc(`${server.url}/dispatch`, { transports: ['websocket'], auth: { token }, reconnection: false });
      await new Promise<void>((resolve, reject) => {
        s.once('hello', () => resolve());
        s.once('connect_error', reject);
      });
      return s;
    }),
  );
  const riderList = (await sockets[0]!.timeout(10_000).emitWithAck('riders:list', { centerId })) as Ack<RiderRow[]>;
  if (isAckError(riderList)) throw new Error(`riders:list: ${riderList.error.message}`);
  const riders = riderList.data.filter((r) => r.status !== 'off');
  if (riders.length < 2) throw new Error(`center ${centerId} has ${riders.length} on-duty riders; reassigning needs 2`);
  const current = new Map(rows.filter((r) => r.status === 'waiting' || r.status === 'assigned').map((r) => [r.deliverySeq, r]));
  const candidates = [...current.keys()];
  const busy = new Set<number>();
  let on = true;
  let sent = 0;
  let failed = 0;
  const run = (async () => {
    const t0 = performance.now();
    const inflight = new Set<Promise<void>>();
    for (let k = 0; on; k++) {
      const due = t0 + (k * 1000) / perSecond;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      let seq = candidates[Math.floor(Math.random() * candidates.length)]!;
      while (busy.has(seq)) seq = candidates[Math.floor(Math.random() * candidates.length)]!;
      const row = current.get(seq)!;
      const others = riders.filter((r) => r.id !== row.riderId);
      const rider = others[Math.floor(Math.random() * others.length)]!;
      busy.add(seq);
      const socket = sockets[k % sockets.length]!;
      const pr = (socket.timeout(10_000).emitWithAck('delivery:assign', { deliverySeq: seq, riderId: rider.id, expectedVersion: row.version }) as Promise<Ack<DeliveryRow>>).then(
        (ack) => {
          if (isAckError(ack)) {
            failed += 1;
            const moved = (ack.error.details as { current?: DeliveryRow } | undefined)?.current;
            if (moved) current.set(seq, moved);
          } else {
            sent += 1;
            current.set(seq, ack.data);
          }
        },
        () => void (failed += 1),
      );
      inflight.add(pr);
      void pr.finally(() => {
        inflight.delete(pr);
        busy.delete(seq);
      });
      if (inflight.size > 64) await Promise.race(inflight);
    }
    await Promise.all(inflight);
  })();
  return {
    async stop() {
      on = false;
      await run;
      for (const s of sockets) s.close();
      return { sent, failed };
    },
  };
}

/** Open and close the assign dialog `count` times over `spanMs`; returns how many opens failed (page too busy to take the click). */
async function openDialogs(page: Page, count: number, spanMs: number): Promise<number> {
  const gap = spanMs / (count + 1);
  let failed = 0;
  for (let i = 0; i < count; i++) {
    await sleep(gap);
    try {
      await page.locator('[data-testid^="assign-button-"]').first().click({ timeout: 30_000 });
      await page.getByTestId('assign-dialog').waitFor({ state: 'visible', timeout: 30_000 });
      await sleep(300);
      await page.keyboard.press('Escape');
      await page.getByTestId('assign-dialog').waitFor({ state: 'hidden', timeout: 30_000 });
    } catch {
      failed += 1;
      await page.keyboard.press('Escape').catch(() => undefined);
    }
  }
  return failed;
}

async function listed(page: Page): Promise<number> {
  return Number((await page.getByTestId('row-total').textContent())?.match(/of (\d+)/)?.[1] ?? 0);
}

export const liveList: Benchmark = {
  name: 'live-list',
  summary: 'dispatcher board with N live rows and a stream of row updates in Chromium: long tasks, frame time, assign-dialog input delay, heap; virtualized vs naive list',
  options: [
    { name: 'rows', description: 'deliveries added to the measured center', defaultText: '10000' },
    { name: 'rate', description: 'row updates per second', defaultText: '100' },
    { name: 'seconds', description: 'seconds of updates per variant', defaultText: '60' },
    { name: 'opens', description: 'assign-dialog opens during each storm', defaultText: '5' },
    { name: 'hq-seconds', description: 'seconds an HQ tab on all centers receives updates before its heap is read (0: skip)', defaultText: '60' },
    { name: 'lists', description: 'which lists to measure: virtualized, naive or both', defaultText: 'virtualized,naive' },
    { name: 'cpu-profile', description: "directory to write each storm's page CPU profile to (<list>.cpuprofile, for Chrome DevTools)", defaultText: 'none' },
    { name: 'trace', description: "directory to write each storm's Chromium performance trace to (<list>.json: tasks, layout, paint; DevTools' Performance panel loads it)", defaultText: 'none' },
  ],
  async run(ctx: BenchContext): Promise<BenchReport> {
    const extra = intOption(ctx.args, 'rows', 10_000, 1);
    const rate = intOption(ctx.args, 'rate', 100, 1);
    const seconds = intOption(ctx.args, 'seconds', 60, 1);
    const opens = intOption(ctx.args, 'opens', 5, 0);
    const hqSeconds = intOption(ctx.args, 'hq-seconds', 60, 0);
    const lists = new Set((ctx.args.options.get('lists') ?? 'virtualized,naive').split(','));
    for (const l of lists) if (l !== 'virtualized' && l !== 'naive') throw new Error(`--lists: unknown list "${l}" (virtualized, naive)`);
    const profileDir = ctx.args.options.get('cpu-profile');
    const traceDir = ctx.args.options.get('trace');
    const server = await ctx.server();
    const dbUrl = (() => {
      const u = new URL(ctx.adminUrl);
      u.pathname = `/${server.database}`;
      return u.toString();
    })();
    ctx.log(`live-list: adding ${extra} deliveries to center 1`);
    await addDeliveries(dbUrl, 1, extra, 'L');
    const token = await server.token('hq@demo.local');
    const res = await fetch(`${server.url}/api/centers/1/deliveries`, { headers: { authorization: `Bearer ${token}` } });
    const rows = ((await res.json()) as DeliverySyncResponse).rows;

    const browser = await chromium.launch({ executablePath: EXECUTABLE, args: ARGS });
    const results: VariantResult[] = [];
    let hq: { rows: number; startMb: number; endMb: number; peakMb: number; readings: { s: number; mb: number }[]; seconds: number; sent: number } | undefined;
    try {
      const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, baseURL: server.url });
      await context.addInitScript(installProbes);
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await page.goto('/login');
      await page.getByTestId('login-email').fill('hq@demo.local');
      await page.getByTestId('login-password').fill(process.env.DEMO_PASSWORD || 'demo');
      await page.getByTestId('login-submit').click();
      await page.waitForURL((u) => !u.pathname.startsWith('/login'));

      const variants = [
        { name: 'virtualized', label: 'virtualized (as shipped)', query: '' },
        { name: 'naive', label: 'naive: every row rendered (?list=all)', query: '&list=all' },
      ].filter((v) => lists.has(v.name));
      for (const { name, label, query } of variants) {
        const t0 = performance.now();
        await page.goto(`/?center=1${query}`);
        await page.getByTestId('connection-badge').and(page.locator('[data-state="live"]')).waitFor({ timeout: 60_000 });
        await page.waitForFunction((m) => Number(document.querySelector('[data-testid="row-total"]')?.textContent?.match(/of (\d+)/)?.[1] ?? 0) >= m, extra, { timeout: 120_000 });
        const loadMs = performance.now() - t0;
        const rowsListed = await listed(page);
        const domElements = await page.evaluate(() => document.getElementsByTagName('*').length);
        ctx.log(`live-list: ${label}: ${rowsListed} rows listed in ${fmt(loadMs / 1000, 1)} s; ${rate} updates/s for ${seconds} s, ${opens} dialog opens`);
        await sleep(1000);
        await page.evaluate(START_PROBES);
        if (profileDir) {
          await cdp.send('Profiler.enable');
          await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
          await cdp.send('Profiler.start');
        }
        if (traceDir) {
          await mkdir(traceDir, { recursive: true });
          await browser.startTracing(page, { path: join(traceDir, `${name}.json`), categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8.execute', 'blink.user_timing'] });
        }
        const stream = await streamReassignments(server, token, 1, rows, rate);
        const s0 = performance.now();
        const [, failedOpens] = await Promise.all([sleep(seconds * 1000), openDialogs(page, opens, seconds * 1000 * 0.9)]);
        const { sent, failed } = await stream.stop();
        const stormS = (performance.now() - s0) / 1000;
        if (traceDir) {
          await browser.stopTracing();
          ctx.log(`live-list: ${label}: trace written to ${join(traceDir, `${name}.json`)}`);
        }
        if (profileDir) {
          const { profile } = await cdp.send('Profiler.stop');
          await mkdir(profileDir, { recursive: true });
          const file = join(profileDir, `${name}.cpuprofile`);
          await writeFile(file, JSON.stringify(profile));
          ctx.log(`live-list: ${label}: CPU profile written to ${file}`);
        }
        await sleep(500);
        const stats = await page.evaluate(() => {
          const s = (window as unknown as { __live: PageStats & { on: boolean } }).__live;
          s.on = false;
          const out = { longTasks: [...s.longTasks], frames: [...s.frames], clicks: [...s.clicks], opens: [...s.opens] };
          s.longTasks = [];
          s.frames = [];
          s.clicks = [];
          s.opens = [];
          return out;
        });
        const frames = Float64Array.from(stats.frames).sort();
        const clicks = Float64Array.from(stats.clicks).sort();
        const openTimes = Float64Array.from(stats.opens).sort();
        const long = stats.longTasks.filter((d) => d > 50);
        results.push({
          label,
          rowsListed,
          updatesSent: sent,
          updatesFailed: failed,
          stormS,
          failedOpens,
          longTasks: long.length,
          longestTaskMs: long.length ? Math.max(...long) : 0,
          longTaskMs: long.reduce((a, b) => a + b, 0),
          frameP50: percentile(frames, 50),
          frameP95: percentile(frames, 95),
          frameMax: frames.length ? frames[frames.length - 1]! : Number.NaN,
          clickP50: percentile(clicks, 50),
          clickMax: clicks.length ? clicks[clicks.length - 1]! : Number.NaN,
          openP50: percentile(openTimes, 50),
          openMax: openTimes.length ? openTimes[openTimes.length - 1]! : Number.NaN,
          heapMb: await heapMb(cdp),
          loadMs,
          domElements,
        });
      }

      if (hqSeconds > 0) {
        await page.goto('/?center=all');
        await page.getByTestId('connection-badge').and(page.locator('[data-state="live"]')).waitFor({ timeout: 60_000 });
        await page.waitForFunction((m) => Number(document.querySelector('[data-testid="row-total"]')?.textContent?.match(/of (\d+)/)?.[1] ?? 0) >= m, extra, { timeout: 120_000 });
        await sleep(1000);
        const startMb = await heapMb(cdp);
        ctx.log(`live-list: HQ tab on all centers, ${await listed(page)} rows, heap ${fmt(startMb, 1)} MB; ${rate} updates/s for ${hqSeconds} s`);
        const stream = await streamReassignments(server, token, 1, rows, rate);
        // A reading (after a forced collection) every minute, so a long run shows whether the heap
        // levels off or keeps climbing, not only where it ended.
        const readings: { s: number; mb: number }[] = [];
        const t0 = Date.now();
        for (let left = hqSeconds; left > 0; ) {
          const wait = Math.min(60, left);
          await sleep(wait * 1000);
          left -= wait;
          if (left > 0) {
            const mb = await heapMb(cdp);
            readings.push({ s: Math.round((Date.now() - t0) / 1000), mb });
            ctx.log(`live-list: HQ tab ${hqSeconds - left} of ${hqSeconds} s, heap ${fmt(mb, 1)} MB`);
          }
        }
        const { sent } = await stream.stop();
        await sleep(500);
        const endMb = await heapMb(cdp);
        readings.push({ s: hqSeconds, mb: endMb });
        hq = { rows: await listed(page), startMb, endMb, peakMb: Math.max(...readings.map((r) => r.mb)), readings, seconds: hqSeconds, sent };
      }
      await context.close();
    } finally {
      await browser.close();
    }

    const [v, n] = results;
    const table = markdownTable(
      ['list', 'rows', 'updates delivered (per s)', 'long tasks > 50 ms', 'longest ms', 'long-task ms total', 'frame p50 / p95 / max ms', 'assign click (Event Timing) p50 / max ms', 'click -> dialog painted p50 / max ms', 'heap MB', 'load s', 'DOM elements'],
      results.map((r) => [
        r.label,
        String(r.rowsListed),
        `${r.updatesSent} in ${fmt(r.stormS, 0)} s (${fmt(r.updatesSent / r.stormS, 0)}/s)${r.updatesFailed ? `; ${r.updatesFailed} refused or unanswered` : ''}`,
        String(r.longTasks),
        fmt(r.longestTaskMs, 0),
        fmt(r.longTaskMs, 0),
        `${fmt(r.frameP50, 1)} / ${fmt(r.frameP95, 1)} / ${fmt(r.frameMax, 0)}`,
        `${fmt(r.clickP50, 0)} / ${fmt(r.clickMax, 0)}`,
        `${fmt(r.openP50, 0)} / ${fmt(r.openMax, 0)}${r.failedOpens ? ` (${r.failedOpens} of ${opens} opens timed out at 30 s)` : ''}`,
        fmt(r.heapMb, 1),
        fmt(r.loadMs / 1000, 1),
        String(r.domElements),
      ]),
    );
    const blocks = [
      `Chromium (headless, ${EXECUTABLE === '/usr/bin/chromium' ? "Debian's" : EXECUTABLE}), 1400x900, HQ session on center 1 with ${extra} added deliveries; ${rate} row updates/s for ${seconds} s per list (reassignments with delivery:assign over dispatcher sockets: each a committed change, broadcast by the server); ${opens} assign-dialog opens during each storm.`,
      table,
    ];
    if (v && n) {
      blocks.push(
        `Naive vs virtualized: long tasks ${n.longTasks} vs ${v.longTasks}; frame p95 ${fmt(n.frameP95 / v.frameP95, 2)}x; dialog open p50 ${fmt(n.openP50 / v.openP50, 2)}x; heap ${fmt(n.heapMb / v.heapMb, 2)}x.`,
      );
    }
    if (hq) {
      blocks.push(
        `HQ tab on all centers (${hq.rows} rows): heap after GC ${fmt(hq.startMb, 1)} MB at start, ${fmt(hq.endMb, 1)} MB after ${hq.seconds} s and ${hq.sent} updates (${fmt(hq.endMb - hq.startMb, 1)} MB); highest reading ${fmt(hq.peakMb, 1)} MB.`,
      );
    }
    if (hq && hq.readings.length > 1) {
      const all = hq.readings;
      const every = Math.max(1, Math.round(all.length / 10));
      const shown = all.filter((r, i) => (i + 1) % every === 0 || i === all.length - 1);
      blocks.push(
        markdownTable(
          ['HQ tab: seconds of updates', ...shown.map((r) => String(r.s))],
          [['heap after GC, MB', ...shown.map((r) => fmt(r.mb, 1))]],
        ),
      );
    }
    return { title: 'live-list', blocks, notes: hqSeconds < 1800 ? [`The HQ-tab heap run lasted ${hqSeconds} s (--hq-seconds); the target speaks of 30 minutes (--hq-seconds 1800).`] : [] };
  },
};
