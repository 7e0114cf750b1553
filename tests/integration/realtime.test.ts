import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DELIVERY_EVENT_BY_STATUS,
  DELIVERY_EVENTS,
  NAMESPACES,
  type Ack,
  type DeliveryRow,
  type MonitorStats,
  type Notice,
  type OrderRow,
  type RiderRow,
  type SessionUser,
} from '../../protocol';
import type { Actor } from '../../server/deliveries/deliveries.service';
import { SUITE_MATRIX } from '../support/adapters';
import { ask, createTestDelivery, data, nextEvent, startTestApp, type TestApp } from '../support/app';
import { ackError, barrier, connectError, counterTotal, http, record, settle, type Received } from '../support/realtime-helpers';

const SYSTEM: Actor = { label: 'test' };

/** The event a committed row was broadcast as, paired with the row: what a socket must receive. */
const asEvent = (row: DeliveryRow): Received<DeliveryRow> => ({ event: DELIVERY_EVENT_BY_STATUS[row.status], payload: row });

describe.each(SUITE_MATRIX)('realtime on $name', ({ backend, adapter }) => {
  let t: TestApp;
  /** Centers A, B, C in ascending id order; A is dispatcher@demo.local's center. */
  let A: number;
  let B: number;
  let C: number;
  /** Riders without a user account, per center (so private rooms stay quiet). */
  const riders = new Map<number, number[]>();
  let dispatcherA: string;
  let dispatcherB: string;
  let hq: string;
  let admin: string;
  let callcenter: string;
  let riderOne: { user: SessionUser; token: string };
  let riderTwo: { user: SessionUser; token: string };

  const svc = () => t.app.services.deliveries;
  const ridersOf = (centerId: number): number[] => riders.get(centerId)!;
  /** A /dispatch socket already in a center room (or HQ's all-centers room). */
  async function joined(token: string, room: { centerId: number } | { all: true }): Promise<Socket> {
    const s = await t.connect(NAMESPACES.dispatch, token);
    data(await ask(s, 'center:join', room));
    return s;
  }

  beforeAll(async () => {
    t = await startTestApp(backend, { adapter });
    const centers = await t.db.prisma.center.findMany({ orderBy: { id: 'asc' } });
    [A, B, C] = centers.map((c) => c.id) as [number, number, number];
    for (const c of centers) {
      const rows = await t.db.prisma.rider.findMany({ where: { centerId: c.id, userId: null }, orderBy: { id: 'asc' } });
      riders.set(c.id, rows.map((r) => r.id));
    }
    [dispatcherA, hq, admin, callcenter] = await Promise.all(
      ['dispatcher@demo.local', 'hq@demo.local', 'admin@demo.local', 'callcenter@demo.local'].map((e) => t.token(e)),
    ) as [string, string, string, string];
    dispatcherB = (await t.createUser('dispatcher', [B])).token;
    riderOne = await t.createUser('rider', [A]);
    riderTwo = await t.createUser('rider', [A]);
  });

  afterAll(async () => {
    await t?.close();
  });

  it('keeps 100+ mixed changes of two centers apart: each dispatcher gets exactly its own center’s events, in order', async () => {
    const sA = await joined(dispatcherA, { centerId: A });
    const sB = await joined(dispatcherB, { centerId: B });
    const gotA = record<DeliveryRow>(sA, DELIVERY_EVENTS);
    const gotB = record<DeliveryRow>(sB, DELIVERY_EVENTS);
    const ridersA = record<RiderRow>(sA, ['rider:status']);
    const ridersB = record<RiderRow>(sB, ['rider:status']);

    /** One center's changes, one after another; the two centers run at the same time. */
    async function drive(centerId: number, deliveries: number): Promise<DeliveryRow[]> {
      const committed: DeliveryRow[] = [];
      const rs = ridersOf(centerId);
      for (let k = 0; k < deliveries; k++) {
        const d = await createTestDelivery(t, centerId);
        committed.push(d);
        const seq = d.deliverySeq;
        const r1 = rs[k % rs.length]!;
        const r2 = rs[(k + 1) % rs.length]!;
        const steps: (() => Promise<DeliveryRow>)[] = {
          0: [() => svc().cancel(seq, 'test', SYSTEM)],
          1: [() => svc().assign(seq, r1, SYSTEM), () => svc().pickUp(seq, SYSTEM), () => svc().deliver(seq, SYSTEM)],
          2: [() => svc().assign(seq, r1, SYSTEM), () => svc().cancel(seq, 'test', SYSTEM)],
          3: [() => svc().assign(seq, r1, SYSTEM), () => svc().assign(seq, r2, SYSTEM), () => svc().pickUp(seq, SYSTEM)],
          4: [() => svc().assign(seq, r1, SYSTEM), () => svc().pickUp(seq, SYSTEM), () => svc().cancel(seq, 'test', SYSTEM)],
        }[k % 5]!;
        for (const step of steps) committed.push(await step());
      }
      return committed;
    }
    const [expectedA, expectedB] = await Promise.all([drive(A, 20), drive(B, 20)]);
    expect(expectedA.length + expectedB.length).toBeGreaterThanOrEqual(100);
    // Every kind of change took part.
    expect(new Set(expectedA.map((r) => r.status))).toEqual(new Set(['waiting', 'assigned', 'picked_up', 'delivered', 'cancelled']));

    await Promise.all([gotA.count(expectedA.length, 20_000), gotB.count(expectedB.length, 20_000)]);
    await Promise.all([barrier(sA), barrier(sB)]);

    // Exactly the committed rows of the own center, each as its event, in commit order.
    expect(gotA.seen).toEqual(expectedA.map(asEvent));
    expect(gotB.seen).toEqual(expectedB.map(asEvent));
    expect(gotA.seen.every((e) => e.payload.centerId === A)).toBe(true);
    expect(gotB.seen.every((e) => e.payload.centerId === B)).toBe(true);
    // Rider status changes that came with them stay in their center too.
    expect(ridersA.seen.length).toBeGreaterThan(0);
    expect(ridersA.seen.every((e) => e.payload.centerId === A)).toBe(true);
    expect(ridersB.seen.every((e) => e.payload.centerId === B)).toBe(true);
    for (const r of [gotA, gotB, ridersA, ridersB]) r.stop();
  });

  it('broadcasts every center’s changes to an HQ socket in the all-centers room, once each', async () => {
    const s = await joined(hq, { all: true });
    const got = record<DeliveryRow>(s, DELIVERY_EVENTS);
    const made = await Promise.all([A, B, C].map((c) => createTestDelivery(t, c)));
    const assigned = await svc().assign(made[2]!.deliverySeq, ridersOf(C)[0]!, SYSTEM);
    const ours = new Set(made.map((d) => d.deliverySeq));
    const mine = () => got.seen.filter((e) => ours.has(e.payload.deliverySeq));
    await got.until(() => mine().length >= 4);
    await barrier(s);
    expect(new Set(mine().map((e) => e.payload.centerId))).toEqual(new Set([A, B, C]));
    expect(mine()).toHaveLength(4);
    expect(mine().filter((e) => e.event === 'delivery:created').map((e) => e.payload).sort((a, b) => a.deliverySeq - b.deliverySeq)).toEqual(
      [...made].sort((a, b) => a.deliverySeq - b.deliverySeq),
    );
    expect(mine().find((e) => e.event === 'delivery:assigned')?.payload).toEqual(assigned);
    got.stop();
  });

  it('sends delivery:assigned privately to the rider on every tab, and to nobody else', async () => {
    const tab1 = await t.connect(NAMESPACES.dispatch, riderOne.token);
    const tab2 = await t.connect(NAMESPACES.dispatch, riderOne.token);
    const other = await t.connect(NAMESPACES.dispatch, riderTwo.token);
    const foreign = await joined(dispatcherB, { centerId: B });
    const d = await createTestDelivery(t, A);
    const recorders = [tab1, tab2, other, foreign].map((s) => record<DeliveryRow>(s, DELIVERY_EVENTS));
    const onTab1 = nextEvent<DeliveryRow>(tab1, 'delivery:assigned', (r) => r.deliverySeq === d.deliverySeq);
    const onTab2 = nextEvent<DeliveryRow>(tab2, 'delivery:assigned', (r) => r.deliverySeq === d.deliverySeq);

    const row = await svc().assign(d.deliverySeq, riderOne.user.riderId!, SYSTEM);
    expect(await onTab1).toEqual(row);
    expect(await onTab2).toEqual(row);
    await settle([tab1, tab2, other, foreign]);

    const [r1, r2, rOther, rForeign] = recorders as [(typeof recorders)[0], (typeof recorders)[0], (typeof recorders)[0], (typeof recorders)[0]];
    // Each tab once, and nothing from the center room (the creation) reached the rider.
    expect(r1.seen).toEqual([{ event: 'delivery:assigned', payload: row }]);
    expect(r2.seen).toEqual([{ event: 'delivery:assigned', payload: row }]);
    expect(rOther.seen).toEqual([]);
    expect(rForeign.seen).toEqual([]);
    for (const r of recorders) r.stop();
  });

  it('refuses joins and connections that the policy does not allow', async () => {
    // A center, room or delivery the caller may not see is answered as if it did not exist.
    const sA = await t.connect(NAMESPACES.dispatch, dispatcherA);
    const foreign = await ask(sA, 'center:join', { centerId: B });
    expect(foreign).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
    expect(ackError(await ask(sA, 'center:join', { all: true }))).toBe('not_found');

    const rider = await t.connect(NAMESPACES.dispatch, riderOne.token);
    expect(ackError(await ask(rider, 'center:join', { centerId: A }))).toBe('not_found');
    expect(ackError(await ask(rider, 'center:join', { all: true }))).toBe('not_found');

    expect(await connectError(t, NAMESPACES.dispatch, undefined)).toBe('unauthorized');
    expect(await connectError(t, NAMESPACES.dispatch, 'not-a-real-token')).toBe('unauthorized');
    expect(await connectError(t, NAMESPACES.callcenter, `${dispatcherA}x`)).toBe('unauthorized');
    expect(await connectError(t, NAMESPACES.monitor, dispatcherA)).toBe('forbidden');
    expect(await connectError(t, NAMESPACES.monitor, hq)).toBe('forbidden');

    const mon = await t.connect(NAMESPACES.monitor, admin);
    const stats = data(await ask<MonitorStats>(mon, 'monitor:stats', {}));
    expect(stats.namespaces.map((n) => n.name).sort()).toEqual(['/callcenter', '/chat', '/dispatch', '/monitor']);
    expect(stats.namespaces.find((n) => n.name === '/monitor')!.sockets).toBeGreaterThanOrEqual(1);
    expect(stats.namespaces.find((n) => n.name === '/dispatch')!.sockets).toBeGreaterThanOrEqual(2);
    expect(Number.isNaN(Date.parse(stats.serverTime))).toBe(false);
    expect(typeof stats.unknownEvents).toBe('number');
  });

  it('lets exactly one of two simultaneous assigns win; the other gets conflict with the winner’s row', async () => {
    const second = await t.createUser('dispatcher', [A]);
    const d1 = await joined(dispatcherA, { centerId: A });
    const d2 = await joined(second.token, { centerId: A });
    const watch = record<DeliveryRow>(d1, DELIVERY_EVENTS);
    const [ra, rb] = ridersOf(A) as [number, number];
    const seqs: number[] = [];
    for (let round = 0; round < 3; round++) {
      const d = await createTestDelivery(t, A);
      seqs.push(d.deliverySeq);
      const [x, y] = await Promise.all([
        ask<DeliveryRow>(d1, 'delivery:assign', { deliverySeq: d.deliverySeq, riderId: ra, expectedVersion: d.version }),
        ask<DeliveryRow>(d2, 'delivery:assign', { deliverySeq: d.deliverySeq, riderId: rb, expectedVersion: d.version }),
      ]);
      const answers: Ack<DeliveryRow>[] = [x, y];
      const wins = answers.filter((a): a is { data: DeliveryRow } => 'data' in a);
      const losses = answers.filter((a) => 'error' in a);
      expect(wins).toHaveLength(1);
      expect(losses).toHaveLength(1);
      const winner = wins[0]!.data;
      expect(winner.status).toBe('assigned');
      expect(winner.version).toBe(d.version + 1);
      expect(losses[0]).toEqual({ error: { code: 'conflict', message: expect.any(String), details: { current: winner } } });
      const inDb = await t.db.prisma.delivery.findUniqueOrThrow({ where: { deliverySeq: d.deliverySeq } });
      expect(inDb.riderId).toBe(winner.riderId);
      expect(inDb.version).toBe(winner.version);
      expect(await t.db.prisma.deliveryEvent.count({ where: { deliverySeq: d.deliverySeq, type: 'assigned' } })).toBe(1);
    }
    await watch.until((s) => seqs.every((q) => s.some((e) => e.event === 'delivery:assigned' && e.payload.deliverySeq === q)));
    await barrier(d1);
    // One broadcast per delivery: the loser changed nothing and emitted nothing.
    expect(watch.seen.filter((e) => seqs.includes(e.payload.deliverySeq) && e.event === 'delivery:assigned')).toHaveLength(seqs.length);
    watch.stop();
  });

  it('lets a rider pick up and deliver only their own delivery, and replays an idempotent retry without a second event', async () => {
    const mine = await t.connect(NAMESPACES.dispatch, riderOne.token);
    const otherTab = await t.connect(NAMESPACES.dispatch, riderOne.token);
    const stranger = await t.connect(NAMESPACES.dispatch, riderTwo.token);
    const center = await joined(dispatcherA, { centerId: A });
    const d = await createTestDelivery(t, A);
    const assigned = await svc().assign(d.deliverySeq, riderOne.user.riderId!, SYSTEM);
    const watchTab = record<DeliveryRow>(otherTab, ['delivery:picked_up', 'delivery:delivered']);
    const watchCenter = record<DeliveryRow>(center, ['delivery:picked_up', 'delivery:delivered']);

    const refused = await ask<DeliveryRow>(stranger, 'delivery:pick_up', { deliverySeq: d.deliverySeq });
    expect(refused).toEqual({ error: { code: 'not_found', message: expect.any(String) } });

    const key = `pickup-${backend.name}-${d.deliverySeq}`;
    const first = data(await ask<DeliveryRow>(mine, 'delivery:pick_up', { deliverySeq: d.deliverySeq, idempotencyKey: key }));
    expect(first).toMatchObject({ deliverySeq: d.deliverySeq, status: 'picked_up', riderId: riderOne.user.riderId, version: assigned.version + 1 });
    const retry = data(await ask<DeliveryRow>(mine, 'delivery:pick_up', { deliverySeq: d.deliverySeq, idempotencyKey: key }));
    expect(retry).toEqual(first);

    expect(ackError(await ask(stranger, 'delivery:deliver', { deliverySeq: d.deliverySeq }))).toBe('not_found');
    const delivered = data(await ask<DeliveryRow>(mine, 'delivery:deliver', { deliverySeq: d.deliverySeq }));
    expect(delivered).toMatchObject({ status: 'delivered', version: first.version + 1 });

    await Promise.all([watchTab.count(2), watchCenter.count(2)]);
    await settle([otherTab, center]);
    const expected = [
      { event: 'delivery:picked_up', payload: first },
      { event: 'delivery:delivered', payload: delivered },
    ];
    expect(watchTab.seen).toEqual(expected);
    expect(watchCenter.seen).toEqual(expected);
    expect(await t.db.prisma.deliveryEvent.count({ where: { deliverySeq: d.deliverySeq, type: 'picked_up' } })).toBe(1);
    watchTab.stop();
    watchCenter.stop();
  });

  const publishBody = (centerId: number, notice: Record<string, unknown>) => ({
    namespace: '/dispatch',
    room: `center:${centerId}`,
    event: 'notice:posted',
    data: notice,
  });

  it('publishes through POST /api/publish: API key required, body validated against the catalogue, 202 reaches the room', async () => {
    const key = await t.apiKey();
    const s = await joined(dispatcherA, { centerId: A });
    const notices = record<Notice>(s, ['notice:posted']);
    const valid = publishBody(A, { title: 'Rain' });

    const anonymous = await http(t, 'POST', '/api/publish', { body: valid });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ error: { code: 'unauthorized' } });
    expect((await http(t, 'POST', '/api/publish', { body: valid, bearer: 'ddk_000000000000_notarealkeynotarealkeynotareal' })).status).toBe(401);
    expect((await http(t, 'POST', '/api/publish', { body: valid, bearer: `${key}x` })).status).toBe(401);
    expect((await http(t, 'POST', '/api/publish', { body: valid, bearer: dispatcherA })).status).toBe(401); // a user token is not an API key

    const bad: unknown[] = [
      { ...valid, namespace: '/nope' },
      { ...valid, room: 'lobby' },
      { ...valid, room: 'center:abc' },
      { ...valid, event: 'delivery:exploded' },
      { ...valid, event: 'order:cancelled' }, // a /callcenter event, not a /dispatch one
      { ...valid, data: { body: 'no title' } },
      { ...valid, data: { title: 'x', level: 'apocalyptic' } },
      { namespace: '/dispatch', room: `center:${A}` },
      'not json',
    ];
    for (const body of bad) {
      const res = await http(t, 'POST', '/api/publish', { body, bearer: key });
      expect({ body, status: res.status, code: (res.body as { error?: { code?: string } }).error?.code }).toEqual({ body, status: 400, code: 'bad_request' });
    }

    const rain = nextEvent<Notice>(s, 'notice:posted', (n) => n.title === 'Rain');
    const ok = await http<{ id: string }>(t, 'POST', '/api/publish', { body: valid, bearer: key });
    expect(ok.status).toBe(202);
    expect(ok.body.id).toMatch(/^[0-9a-f-]{36}$/);
    // The schema's defaults are applied before the emit.
    expect(await rain).toEqual({ title: 'Rain', body: '', level: 'info' });
    await settle([s]);
    expect(notices.of('notice:posted')).toEqual([{ title: 'Rain', body: '', level: 'info' }]); // none of the refused ones leaked
    notices.stop();
  });

  it('publishes once per Idempotency-Key: the retry gets the same id and no second event; another body under the key is 409', async () => {
    const key = await t.apiKey();
    const s = await joined(dispatcherA, { centerId: A });
    const notices = record<Notice>(s, ['notice:posted']);
    const body = publishBody(A, { title: 'Storm', level: 'warning' });
    const headers = { 'idempotency-key': `publish-${backend.name}-${Date.now()}` };

    const one = await http<{ id: string }>(t, 'POST', '/api/publish', { body, bearer: key, headers });
    const two = await http<{ id: string }>(t, 'POST', '/api/publish', { body, bearer: key, headers });
    expect([one.status, two.status]).toEqual([202, 202]);
    expect(two.body.id).toBe(one.body.id);
    const changed = await http(t, 'POST', '/api/publish', { body: publishBody(A, { title: 'Snow' }), bearer: key, headers });
    expect(changed.status).toBe(409);
    expect(changed.body).toMatchObject({ error: { code: 'conflict' } });

    await notices.count(1);
    await settle([s]);
    expect(notices.of('notice:posted')).toEqual([{ title: 'Storm', body: '', level: 'warning' }]);
    notices.stop();
  });

  it('rate-limits the publish API per key with 429, retry-after and rate_limited', async () => {
    const limited = await startTestApp(backend, { apiRatePerSecond: 3, deliveries: 0, adapter });
    try {
      const key = await limited.apiKey();
      const centerId = (await limited.db.prisma.center.findFirstOrThrow({ orderBy: { id: 'asc' } })).id;
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => http(limited, 'POST', '/api/publish', { body: publishBody(centerId, { title: 'Burst' }), bearer: key })),
      );
      const accepted = answers.filter((a) => a.status === 202);
      const rejected = answers.filter((a) => a.status === 429);
      expect(accepted.length + rejected.length).toBe(10);
      expect(accepted.length).toBeGreaterThanOrEqual(1);
      expect(accepted.length).toBeLessThanOrEqual(3);
      for (const r of rejected) {
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(r.body).toMatchObject({ error: { code: 'rate_limited' } });
      }
      // Another key has its own budget.
      const other = await limited.apiKey('other-service');
      expect((await http(limited, 'POST', '/api/publish', { body: publishBody(centerId, { title: 'Calm' }), bearer: other })).status).toBe(202);
    } finally {
      await limited.close();
    }
  });

  it('carries an order cancelled over HTTP to the watching call-center agent and the center', async () => {
    const key = await t.apiKey('consumer-app');
    const d = await createTestDelivery(t, A);
    await svc().assign(d.deliverySeq, ridersOf(A)[0]!, SYSTEM);
    const agent = await t.connect(NAMESPACES.callcenter, callcenter);
    const watched = data(await ask<{ order: OrderRow; delivery: DeliveryRow | null }>(agent, 'order:watch', { orderNo: d.orderNo }));
    expect(watched.order).toMatchObject({ orderNo: d.orderNo, status: 'placed', deliverySeq: d.deliverySeq });
    expect(watched.delivery).toMatchObject({ deliverySeq: d.deliverySeq, status: 'assigned' });
    const center = await joined(dispatcherA, { centerId: A });

    const orderCancelled = nextEvent<OrderRow>(agent, 'order:cancelled', (o) => o.orderNo === d.orderNo);
    const agentDelivery = nextEvent<DeliveryRow>(agent, 'delivery:cancelled', (r) => r.deliverySeq === d.deliverySeq);
    const centerDelivery = nextEvent<DeliveryRow>(center, 'delivery:cancelled', (r) => r.deliverySeq === d.deliverySeq);
    const reason = 'Customer changed mind';
    const res = await http<{ id: string; order: OrderRow; delivery: DeliveryRow }>(t, 'POST', `/api/orders/${d.orderNo}/cancel`, {
      bearer: key,
      body: { reason },
    });
    expect(res.status).toBe(202);
    expect(res.body.order).toMatchObject({ orderNo: d.orderNo, status: 'cancelled', cancelReason: reason });
    expect(res.body.delivery).toMatchObject({ deliverySeq: d.deliverySeq, status: 'cancelled' });

    const order = await orderCancelled;
    expect(order).toMatchObject({ orderNo: d.orderNo, status: 'cancelled', cancelReason: reason, deliverySeq: d.deliverySeq });
    expect(order.cancelledAt).not.toBeNull();
    const row = await agentDelivery;
    expect(row).toMatchObject({ status: 'cancelled', centerId: A });
    expect(row).toEqual(res.body.delivery);
    expect(await centerDelivery).toEqual(row);

    const dbOrder = await t.db.prisma.order.findUniqueOrThrow({ where: { orderNo: d.orderNo } });
    expect(dbOrder.status).toBe('cancelled');
    expect(dbOrder.cancelReason).toBe(reason);
    const dbDelivery = await t.db.prisma.delivery.findUniqueOrThrow({ where: { deliverySeq: d.deliverySeq } });
    expect(dbDelivery.status).toBe('cancelled');
    expect(dbDelivery.version).toBe(row.version);
    const events = await t.db.prisma.deliveryEvent.findMany({ where: { deliverySeq: d.deliverySeq, type: 'cancelled' } });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ status: 'cancelled', note: reason });
    expect(events[0]!.actorLabel).toMatch(/^apikey:/);

    const again = await http(t, 'POST', `/api/orders/${d.orderNo}/cancel`, { bearer: key, body: { reason } });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: { code: 'invalid_transition' } });
    const unknown = await http(t, 'POST', '/api/orders/NO-SUCH-ORDER-42/cancel', { bearer: key, body: { reason } });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: { code: 'not_found' } });
    expect((await http(t, 'POST', `/api/orders/${d.orderNo}/cancel`, { body: { reason } })).status).toBe(401);
  });

  it('ignores and counts an unknown client event; the socket stays connected and working', async () => {
    const s = await joined(dispatcherA, { centerId: A });
    const before = await counterTotal(t.app.metrics.unknownEvents);
    s.emit('delivery:explode', { deliverySeq: 1 });
    s.emit('totally-unknown');
    await barrier(s); // processed in order: once the probe is answered, both were seen
    expect(await counterTotal(t.app.metrics.unknownEvents)).toBe(before + 2);
    expect(s.connected).toBe(true);
    // Still served: a change reaches it and a command answers.
    const d = await createTestDelivery(t, A);
    const created = await nextEvent<DeliveryRow>(s, 'delivery:created', (r) => r.deliverySeq === d.deliverySeq);
    expect(created).toEqual(d);
    expect(data(await ask<{ id: number }[]>(s, 'centers:list', {})).map((c) => c.id)).toEqual([A]);
    const mon = await t.connect(NAMESPACES.monitor, admin);
    expect(data(await ask<MonitorStats>(mon, 'monitor:stats', {})).unknownEvents).toBe(before + 2);
  });

  it('serves the REST twin POST /api/deliveries/:seq/assign with the same rules and broadcast', async () => {
    const s = await joined(dispatcherA, { centerId: A });
    const d = await createTestDelivery(t, A);
    const riderId = ridersOf(A)[1]!;
    const path = `/api/deliveries/${d.deliverySeq}/assign`;

    expect((await http(t, 'POST', path, { body: { riderId } })).status).toBe(401);
    expect((await http(t, 'POST', path, { body: { riderId }, bearer: 'garbage' })).status).toBe(401);
    const foreign = await http(t, 'POST', path, { body: { riderId }, bearer: dispatcherB });
    expect(foreign.status).toBe(404);
    expect(foreign.body).toMatchObject({ error: { code: 'not_found' } });
    for (const body of [{}, { riderId: 'x' }, { riderId: -1 }, { riderId, expectedVersion: 0 }, '{']) {
      const res = await http(t, 'POST', path, { body, bearer: dispatcherA });
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
    }
    expect((await http(t, 'POST', '/api/deliveries/abc/assign', { body: { riderId }, bearer: dispatcherA })).status).toBe(400);
    const untouched = await t.db.prisma.delivery.findUniqueOrThrow({ where: { deliverySeq: d.deliverySeq } });
    expect(untouched).toMatchObject({ status: 'waiting', version: d.version, riderId: null });

    const event = nextEvent<DeliveryRow>(s, 'delivery:assigned', (r) => r.deliverySeq === d.deliverySeq);
    const ok = await http<DeliveryRow>(t, 'POST', path, { body: { riderId, expectedVersion: d.version }, bearer: dispatcherA });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ deliverySeq: d.deliverySeq, status: 'assigned', riderId, version: d.version + 1 });
    expect(await event).toEqual(ok.body);

    const stale = await http<{ error: { code: string; details: { current: DeliveryRow } } }>(t, 'POST', path, {
      body: { riderId: ridersOf(A)[2]!, expectedVersion: d.version },
      bearer: dispatcherA,
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'conflict', details: { current: ok.body } });
  });
});
