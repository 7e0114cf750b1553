import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeliverySync, type DeliverySync, type DispatchClientSocket } from '../../app/lib/delivery-sync';
import { NAMESPACES, createRowStore, type DeliveryRow, type DeliverySyncResponse } from '../../protocol';
import { createApplication, type Application } from '../../server/app';
import type { Database } from '../../server/db/database';
import { seedDemo } from '../../server/demo/seed';
import { createLogger } from '../../server/logger';
import { redisStreams, type AdapterRun } from '../support/adapters';
import { BACKENDS } from '../support/backends';
import { waitFor } from '../support/sync-helpers';

/**
 * The issue's measurement at small scale: two nodes on one database and one Redis, the second
 * node's clock 10 s ahead, deliveries assigned, picked up and delivered with the commands
 * alternating between the nodes. A dispatcher on each node runs the browser's sync engine; both
 * must end equal to the database. With the old rule (modDate from the handling node's clock,
 * compared before version) a delivery finished on the slow node after a step on the fast one
 * stayed "picked up" on every screen.
 */
const SKEW_MS = 10_000;

describe.each(BACKENDS)('two nodes, one clock 10 s ahead, on $name', (backend) => {
  let db: Database;
  let dispose: () => Promise<void>;
  let adapter: AdapterRun;
  const nodes: { app: Application; url: string }[] = [];
  const clients: { socket: DispatchClientSocket; store: ReturnType<typeof createRowStore>; engine: DeliverySync }[] = [];
  let centerId: number;
  let riderId: number;

  beforeAll(async () => {
    ({ db, dispose } = await backend.open());
    await seedDemo(db.prisma, { password: 'skew-pass', deliveries: 6, ridersPerCenter: 2 });
    adapter = await redisStreams.open();
    for (const skew of [0, SKEW_MS]) {
      const app = createApplication({
        db: db.prisma,
        logger: createLogger('silent'),
        sessionSecret: 'clock-skew-test-secret-0123456789abcdef',
        snapshotIntervalMs: 0,
        now: () => new Date(Date.now() + skew),
        ...adapter.deps,
      });
      nodes.push({ app, url: `http://127.0.0.1:${await app.listen(0, '127.0.0.1')}` });
    }
    centerId = (await db.prisma.center.findFirstOrThrow({ orderBy: { id: 'asc' } })).id;
    const rider = await db.prisma.rider.findFirstOrThrow({ where: { centerId }, orderBy: { id: 'asc' } });
    await db.prisma.rider.update({ where: { id: rider.id }, data: { status: 'idle' } });
    riderId = rider.id;
  });

  afterAll(async () => {
    for (const c of clients) {
      c.engine.stop();
      c.socket.disconnect();
    }
    for (const n of nodes) await n.app.close();
    await adapter?.dispose();
    await dispose?.();
  });

  it('keeps the dispatcher on each node equal to the database', async () => {
    const login = await fetch(`${nodes[0]!.url}/api/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'dispatcher@demo.local', password: 'skew-pass' }),
    });
    const { token } = (await login.json()) as { token: string };
    for (const node of nodes) {
      const socket: DispatchClientSocket = io(`${node.url}${NAMESPACES.dispatch}`, { transports: ['websocket'], forceNew: true, auth: { token } });
      const store = createRowStore();
      const engine = createDeliverySync({
        socket,
        store,
        centers: { ids: [centerId], all: false },
        fetchDelta: () => Promise.reject(new Error('no polling in this test')),
        pollAfterMs: 60_000,
      });
      clients.push({ socket, store, engine });
    }
    await waitFor(() => clients.every((c) => c.engine.status().link === 'live' && c.store.rows.size > 0), 10_000, 'clients loaded');

    const actor = { label: 'skew-test' };
    let turn = 0;
    const next = () => nodes[turn++ % nodes.length]!.app.services.deliveries;
    const changed: DeliveryRow[] = [];
    for (let i = 0; i < 8; i++) {
      // Three steps per delivery: the node that takes each step alternates, so half of the
      // deliveries are picked up on the fast clock and delivered on the slow one.
      const created = await nodes[i % nodes.length]!.app.services.deliveries.create(
        {
          centerId,
          orderNo: `SKEW-${process.pid}-${Date.now().toString(36)}-${i}`,
          shopName: 'Skew Shop',
          shopAddress: '1 Clock-ro',
          customerName: 'Customer',
          customerAddress: '2 Clock-ro',
          items: 'x1',
          totalWon: 1000,
          lat: 37.5,
          lng: 127,
        },
        actor,
      );
      await next().assign(created.deliverySeq, riderId, actor);
      await next().pickUp(created.deliverySeq, actor);
      changed.push(await next().deliver(created.deliverySeq, actor));
    }

    // The database stamped modDate with its own clock, not the skewed node's.
    for (const row of changed) expect(Date.parse(row.modDate)).toBeLessThan(Date.now() + SKEW_MS / 2);

    const inDb = await db.prisma.delivery.findMany({ where: { centerId }, select: { deliverySeq: true, status: true, version: true, riderId: true } });
    const diff = (store: ReturnType<typeof createRowStore>) =>
      inDb
        .map((d) => ({ d, h: store.get(d.deliverySeq) }))
        .filter(({ d, h }) => !h || h.status !== d.status || h.version !== d.version || h.riderId !== d.riderId)
        .map(({ d, h }) => `#${d.deliverySeq} db ${d.status} v${d.version}, held ${h ? `${h.status} v${h.version}` : 'nothing'}`);
    let last: string[] = [];
    await waitFor(
      () => (last = clients.flatMap((c, i) => diff(c.store).map((x) => `node ${i}: ${x}`))).length === 0,
      10_000,
      'every client equal to the database',
      () => last.join('; '),
    );
    for (const c of clients) expect(changed.every((r) => c.store.get(r.deliverySeq)?.status === 'delivered')).toBe(true);

    // A resync from any node's answer misses nothing either: full list, then a delta from its asOf.
    const full = await nodes[1]!.app.services.deliveries.listForCenter(centerId);
    const extra = await nodes[0]!.app.services.deliveries.assign((await next().create({ centerId, orderNo: `SKEW-${process.pid}-late`, shopName: 'S', shopAddress: 'A', customerName: 'C', customerAddress: 'B', items: 'x', totalWon: 1, lat: 37.5, lng: 127 }, actor)).deliverySeq, riderId, actor);
    const delta: DeliverySyncResponse = await nodes[1]!.app.services.deliveries.changedSince(centerId, full.asOf);
    expect(delta.rows.find((r) => r.deliverySeq === extra.deliverySeq)?.version).toBe(extra.version);
  });
});
