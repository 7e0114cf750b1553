import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isActive, statusCode, type DeliverySnapshot, type SnapshotEntry } from '../../protocol';
import { createLocalLock, createRedisLock } from '../../server/jobs/lock';
import { readSnapshot } from '../../server/snapshot/snapshot.job';
import { createTestDelivery, startTestApp, type TestApp } from '../support/app';
import { SUITE_MATRIX } from '../support/adapters';
import { advance, roundTrip, startSyncClient, storeVsDb, waitFor, waitUntilEqual, type SyncClient } from '../support/sync-helpers';

/**
 * Each repair layer of the client sync engine (app/lib/delivery-sync.ts) on its own, against the
 * real server: live events, connection state recovery, watermark resync, snapshot, polling.
 * Layers that must not take part get out of the way (a long pollAfterMs), so each counter
 * measures one layer.
 */
const test = { label: 'test' };
/** Long enough that polling never starts in tests that are about another layer. */
const NO_POLLING = { pollAfterMs: 60_000, pollEveryMs: 60_000 };

describe.each(SUITE_MATRIX)('resilience on $name', ({ backend, adapter }) => {
  let t: TestApp;
  let hq: string;
  let centerId: number;
  let riderId: number;
  /** Socket ids the server must skip when emitting delivery events (loss injection). */
  let lost: string[] = [];
  const clients: SyncClient[] = [];
  const client = (opts?: Parameters<typeof startSyncClient>[3]) => {
    const c = startSyncClient(t, hq, centerId, opts);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    t = await startTestApp(backend, { lossInjector: () => lost, adapter });
    hq = await t.token('hq@demo.local');
    centerId = (await t.db.prisma.center.findFirstOrThrow({ orderBy: { id: 'asc' } })).id;
    riderId = (await t.db.prisma.rider.findFirstOrThrow({ where: { centerId, status: { not: 'off' } }, orderBy: { id: 'asc' } })).id;
  });
  afterAll(async () => {
    lost = [];
    for (const c of clients) c.close();
    await t?.close();
  });

  it('loads the center, then follows live events with no repair counted', async () => {
    const c = client();
    try {
      await waitFor(() => c.engine.status().link === 'live', 5000, 'live link');
      await waitUntilEqual(t, c, centerId);
      expect(c.store.rows.size).toBeGreaterThan(0);

      const a = await createTestDelivery(t, centerId);
      const b = await createTestDelivery(t, centerId);
      await advance(t, a.deliverySeq, riderId, ['assign', 'pick_up']);
      await t.app.services.deliveries.cancel(b.deliverySeq, 'test', test);
      await waitUntilEqual(t, c, centerId);
      expect(c.store.get(a.deliverySeq)?.status).toBe('picked_up');
      expect(c.store.get(b.deliverySeq)?.status).toBe('cancelled');

      const s = c.engine.status();
      expect(s.repaired).toEqual({ recovery: 0, resync: 0, snapshot: 0, polling: 0 });
      expect(s.lastReconnect).toBeNull();
      expect(s.link).toBe('live');
      expect(s.error).toBeNull();
      expect(c.fetchCalls()).toBe(0);
    } finally {
      c.close();
    }
  });

  it('recovers a dropped transport through connection state recovery (replayed events, no resync)', async () => {
    const c = client(NO_POLLING);
    try {
      await waitFor(() => c.engine.status().link === 'live', 5000, 'live link');
      await waitUntilEqual(t, c, centerId);
      const held = await createTestDelivery(t, centerId);
      await waitFor(() => c.store.get(held.deliverySeq) !== undefined, 5000, 'created row via event');
      const oldId = c.socket.id;

      // Reconnect by itself, but only after the changes below were committed and emitted:
      // one fixed backoff step, long next to a few service calls.
      const mgr = c.socket.io;
      mgr.randomizationFactor(0);
      mgr.reconnectionDelay(1500);
      mgr.reconnectionDelayMax(1500);
      const down = new Promise<void>((resolve) => c.socket.once('disconnect', () => resolve()));
      mgr.engine.close(); // no DISCONNECT packet: the server keeps the session
      await down;
      expect(c.socket.connected).toBe(false);

      const created = await createTestDelivery(t, centerId);
      await advance(t, held.deliverySeq, riderId, ['assign']);
      await t.app.services.deliveries.cancel(created.deliverySeq, 'test', test);
      // Every emit above happened while this client was disconnected.
      expect(c.socket.connected).toBe(false);
      mgr.reconnectionDelay(100);
      mgr.reconnectionDelayMax(500);

      await waitFor(() => c.engine.status().lastReconnect !== null, 10_000, 'reconnect');
      await waitUntilEqual(t, c, centerId);
      const s = c.engine.status();
      expect(c.socket.recovered).toBe(true);
      expect(c.socket.id).toBe(oldId);
      expect(s.link).toBe('live');
      expect(s.lastReconnect?.outcome).toBe('recovered');
      // Three events were missed and replayed: created and cancelled (new row), assigned (held row).
      expect(s.repaired.recovery).toBe(3);
      expect(s.repaired.resync).toBe(0);
      expect(s.repaired.snapshot).toBe(0);
      expect(s.repaired.polling).toBe(0);
      expect(c.store.get(created.deliverySeq)?.status).toBe('cancelled');
      expect(c.store.get(held.deliverySeq)?.status).toBe('assigned');
    } finally {
      c.close();
    }
  });

  it('recovers a client that had received nothing since its greeting', async () => {
    const c = client(NO_POLLING);
    try {
      await waitFor(() => c.engine.status().link === 'live', 5000, 'live link');
      await waitUntilEqual(t, c, centerId);
      const oldId = c.socket.id;
      const mgr = c.socket.io;
      mgr.randomizationFactor(0);
      mgr.reconnectionDelay(1500);
      mgr.reconnectionDelayMax(1500);
      const down = new Promise<void>((resolve) => c.socket.once('disconnect', () => resolve()));
      mgr.engine.close();
      await down;
      const created = await createTestDelivery(t, centerId);
      expect(c.socket.connected).toBe(false);
      mgr.reconnectionDelay(100);
      mgr.reconnectionDelayMax(500);

      await waitFor(() => c.engine.status().lastReconnect !== null, 10_000, 'reconnect');
      await waitUntilEqual(t, c, centerId);
      expect(c.socket.recovered).toBe(true);
      expect(c.socket.id).toBe(oldId);
      expect(c.engine.status().repaired).toEqual({ recovery: 1, resync: 0, snapshot: 0, polling: 0 });
      expect(c.store.get(created.deliverySeq)?.deliverySeq).toBe(created.deliverySeq);
    } finally {
      c.close();
    }
  });

  it('resyncs from the watermark when the session cannot be recovered, asking only for what changed', async () => {
    const c = client(NO_POLLING);
    try {
      await waitFor(() => c.engine.status().link === 'live', 5000, 'live link');
      await waitUntilEqual(t, c, centerId);
      const a = await createTestDelivery(t, centerId);
      const b = await createTestDelivery(t, centerId);
      await waitUntilEqual(t, c, centerId);

      const syncs: { centerId: number; sinceTx?: number }[] = [];
      c.socket.onAnyOutgoing((event: string, payload: unknown) => {
        if (event === 'deliveries:sync') syncs.push(payload as { centerId: number; sinceTx?: number });
      });
      const watermark = c.engine.watermark(centerId);
      expect(watermark).toBeDefined();

      // An explicit disconnect discards the server's session: recovery is impossible.
      c.socket.disconnect();
      expect(c.socket.connected).toBe(false);
      const created = await createTestDelivery(t, centerId);
      await advance(t, a.deliverySeq, riderId, ['assign', 'pick_up', 'deliver']);
      await t.app.services.deliveries.cancel(b.deliverySeq, 'test', test);
      const changed = 3; // created, a (delivered), b (cancelled)
      c.socket.connect();

      await waitFor(() => c.engine.status().lastReconnect !== null, 10_000, 'reconnect');
      await waitUntilEqual(t, c, centerId);
      const s = c.engine.status();
      expect(c.socket.recovered).toBe(false);
      expect(s.link).toBe('live');
      expect(s.lastReconnect?.outcome).toBe('resynced');
      expect(s.lastReconnect?.rows).toBe(changed);
      expect(s.repaired.resync).toBe(changed);
      expect(s.repaired.recovery).toBe(0);
      expect(s.repaired.snapshot).toBe(0);
      expect(s.repaired.polling).toBe(0);
      expect(c.store.get(created.deliverySeq)?.status).toBe('waiting');
      expect(c.store.get(a.deliverySeq)?.status).toBe('delivered');
      expect(c.store.get(b.deliverySeq)?.status).toBe('cancelled');

      // It asked once, from the watermark it held, and that delta is smaller than the whole list.
      expect(syncs).toEqual([{ centerId, sinceTx: watermark }]);
      const delta = await t.app.services.deliveries.changedSince(centerId, watermark!);
      const full = await t.app.services.deliveries.listForCenter(centerId);
      expect(delta.rows.length).toBeGreaterThanOrEqual(changed);
      expect(delta.rows.length).toBeLessThan(full.rows.length);
    } finally {
      c.close();
    }
  });

  it('repairs lost events from the snapshot digest, fetching only the rows that differ', async () => {
    const c = client(NO_POLLING);
    try {
      await waitFor(() => c.engine.status().link === 'live', 5000, 'live link');
      await waitUntilEqual(t, c, centerId);
      const held = await createTestDelivery(t, centerId);
      await waitFor(() => c.store.get(held.deliverySeq) !== undefined, 5000, 'created row via event');
      const heldBefore = c.store.get(held.deliverySeq)!;

      // The server now skips every delivery event for this socket.
      lost = [c.socket.id!];
      let never: number;
      let stillWaiting: number;
      try {
        never = (await createTestDelivery(t, centerId)).deliverySeq; // a row it never hears of…
        await advance(t, never, riderId, ['assign', 'pick_up', 'deliver']); // …that finishes delivered
        await advance(t, held.deliverySeq, riderId, ['assign', 'pick_up', 'deliver']); // held as active, now delivered
        stillWaiting = (await createTestDelivery(t, centerId)).deliverySeq; // an active row it lacks
        await roundTrip(c.socket);
      } finally {
        lost = [];
      }
      expect(c.store.get(never)).toBeUndefined();
      expect(c.store.get(stillWaiting)).toBeUndefined();
      expect(c.store.get(held.deliverySeq)).toEqual(heldBefore);
      expect(await storeVsDb(t, c.store, centerId)).toHaveLength(3);

      const snapshots: DeliverySnapshot[] = [];
      c.socket.on('deliveries:snapshot', (s) => {
        if (s.centerId === centerId) snapshots.push(s);
      });
      const stats = await t.app.snapshot.runOnce();
      expect(stats).not.toBeNull();
      await waitUntilEqual(t, c, centerId);
      const s = c.engine.status();
      expect(s.repaired.snapshot).toBe(3);
      expect(s.repaired.recovery).toBe(0);
      expect(s.repaired.resync).toBe(0);
      expect(s.repaired.polling).toBe(0);
      expect(s.error).toBeNull();
      expect(c.store.get(never)?.status).toBe('delivered');
      expect(c.store.get(held.deliverySeq)?.status).toBe('delivered');
      expect(c.store.get(stillWaiting)?.status).toBe('waiting');

      // The digest: every active delivery of the center plus every row changed since `since`,
      // each as [seq, version, status code], and nothing else.
      expect(snapshots).toHaveLength(1);
      const snap = snapshots[0]!;
      const dbRows = await t.db.prisma.delivery.findMany({ where: { centerId }, orderBy: { deliverySeq: 'asc' } });
      const entry = (r: (typeof dbRows)[number]): SnapshotEntry => [r.deliverySeq, r.version, statusCode(r.status)];
      const active = dbRows.filter((r) => isActive(r.status));
      expect(active.length).toBeGreaterThan(0);
      for (const r of active) expect(snap.rows).toContainEqual(entry(r));
      const expected = dbRows.filter((r) => isActive(r.status) || r.modDate.getTime() >= snap.since).map(entry);
      expect(snap.rows).toEqual(expected);
      expect(snap.rows).toContainEqual(entry(dbRows.find((r) => r.deliverySeq === never)!));
    } finally {
      lost = [];
      c.close();
    }
  });

  it('polls the REST delta while the socket stays down, and stops once it is live again', async () => {
    const c = client({ pollAfterMs: 300, pollEveryMs: 300 });
    try {
      await waitFor(() => c.engine.status().link === 'live', 5000, 'live link');
      await waitUntilEqual(t, c, centerId);
      const a = await createTestDelivery(t, centerId);
      await waitFor(() => c.store.get(a.deliverySeq) !== undefined, 5000, 'created row via event');

      c.socket.io.reconnection(false);
      c.socket.io.engine.close();
      await waitFor(() => c.engine.status().link === 'polling', 5000, 'polling link');
      expect(c.socket.connected).toBe(false);

      const created = await createTestDelivery(t, centerId);
      await advance(t, a.deliverySeq, riderId, ['assign']);
      await waitUntilEqual(t, c, centerId);
      const polled = c.engine.status();
      expect(polled.link).toBe('polling');
      expect(polled.repaired.polling).toBe(2);
      expect(polled.repaired.recovery).toBe(0);
      expect(polled.repaired.resync).toBe(0);
      expect(polled.repaired.snapshot).toBe(0);
      expect(c.fetchCalls()).toBeGreaterThan(0);
      expect(c.store.get(created.deliverySeq)?.status).toBe('waiting');

      c.socket.io.reconnection(true);
      c.socket.connect();
      await waitFor(() => c.socket.connected && c.engine.status().link === 'live', 10_000, 'live again');
      await waitFor(() => c.engine.status().lastReconnect !== null, 10_000, 'reconnect handled');
      const callsAtReconnect = c.fetchCalls();

      // Live changes arrive through events; polling does not run any more.
      const later = await createTestDelivery(t, centerId);
      await advance(t, created.deliverySeq, riderId, ['assign', 'pick_up']);
      await waitUntilEqual(t, c, centerId);
      expect(c.store.get(later.deliverySeq)?.status).toBe('waiting');
      await new Promise((r) => setTimeout(r, 700)); // > 2 poll periods: a poll loop still running would show
      const s = c.engine.status();
      expect(s.link).toBe('live');
      expect(c.fetchCalls()).toBe(callsAtReconnect);
      expect(s.repaired.polling).toBe(polled.repaired.polling);
      expect(s.repaired.snapshot).toBe(0);
      expect(s.error).toBeNull();
    } finally {
      c.close();
    }
  });

  it('keeps the snapshot of 1,000 active deliveries of one center under 60 KB', async () => {
    const code = `T${process.pid}${Date.now().toString(36)}`.slice(0, 20);
    const center = await t.db.prisma.center.create({ data: { code, name: 'Snapshot size test', lat: 37.5, lng: 127 } });
    const at = new Date();
    const orders = await t.db.prisma.order.createManyAndReturn({
      data: Array.from({ length: 1000 }, (_, i) => ({
        orderNo: `${code}-${i}`,
        centerId: center.id,
        shopName: 'Test Shop',
        customerName: 'Test Customer',
        customerAddress: '2 Test-ro',
        items: 'Test item x1',
        totalWon: 10000,
        createdAt: at,
        modDate: at,
      })),
      select: { id: true, orderNo: true },
    });
    await t.db.prisma.delivery.createMany({
      data: orders.map((o) => ({
        centerId: center.id,
        orderId: o.id,
        orderNo: o.orderNo,
        shopName: 'Test Shop',
        shopAddress: '1 Test-ro',
        address: '2 Test-ro',
        lat: 37.5,
        lng: 127,
        createdAt: at,
        modDate: at,
      })),
    });
    const snap = await readSnapshot(t.db.prisma, center.id, 120_000);
    expect(snap.rows).toHaveLength(1000);
    const bytes = Buffer.byteLength(JSON.stringify(snap));
    console.log(`snapshot bytes for 1000 active deliveries: ${bytes}`);
    expect(bytes).toBeLessThan(60 * 1024);
  });
});

describe('snapshot period lock', () => {
  it('lets a local lock claim each period once, and never an older one', async () => {
    const lock = createLocalLock();
    expect(await lock.claim('snapshot', 10, 1000)).toBe(true);
    expect(await lock.claim('snapshot', 10, 1000)).toBe(false);
    expect(await lock.claim('snapshot', 9, 1000)).toBe(false);
    expect(await lock.claim('other-job', 10, 1000)).toBe(true);
    expect(await lock.claim('snapshot', 11, 1000)).toBe(true);
  });

  it('gives exactly one of two Redis-locked nodes each period, out of 20 concurrent claims', async () => {
    const prefix = `dd-test:${process.pid}:${Date.now().toString(36)}:lock`;
    const ra = new Redis('redis://127.0.0.1:6379');
    const rb = new Redis('redis://127.0.0.1:6379');
    try {
      const a = createRedisLock(ra, 'node-a', prefix);
      const b = createRedisLock(rb, 'node-b', prefix);
      const base = Math.floor(Date.now() / 120_000);
      for (let period = base; period < base + 5; period += 1) {
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? b : a).claim('snapshot', period, 10_000)));
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results.indexOf(true) % 2 ? 'node-b' : 'node-a';
        expect(await ra.get(`${prefix}:snapshot:${period}`)).toBe(winner);
        const ttl = await ra.pttl(`${prefix}:snapshot:${period}`);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(10_000);
      }
    } finally {
      const keys = await ra.keys(`${prefix}:*`);
      if (keys.length) await ra.del(...keys);
      await Promise.all([ra.quit(), rb.quit()]);
    }
  });
});
