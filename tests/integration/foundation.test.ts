import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NAMESPACES, type DeliveryRow, type DeliverySyncResponse } from '../../protocol';
import { applyMigrations } from '../../server/db/migrate';
import { createCentersService } from '../../server/centers/centers.service';
import { COMMANDS_PER_SECOND } from '../../server/realtime/auth.middleware';
import { seedDemo } from '../../server/demo/seed';
import { BACKENDS } from '../support/backends';
import { ask, createTestDelivery, data, nextEvent, startTestApp, type TestApp } from '../support/app';

describe.each(BACKENDS)('foundation on $name', (backend) => {
  let t: TestApp;
  let hq: string;
  beforeAll(async () => {
    t = await startTestApp(backend);
    hq = await t.token('hq@demo.local');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('applies migrations once and records them as Prisma does', async () => {
    const again = await applyMigrations(t.db.pool);
    expect(again.applied).toEqual([]);
    const { rows } = await t.db.pool.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
      'SELECT migration_name, checksum, finished_at FROM "_prisma_migrations"',
    );
    expect(rows.length).toBeGreaterThan(0);
    expect(rows[0]?.checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0]?.finished_at).not.toBeNull();
  });

  it('seeds idempotently', async () => {
    const second = await seedDemo(t.db.prisma, { password: 'x' });
    expect(second.seeded).toBe(false);
    expect(await t.db.prisma.center.count()).toBe(3);
    expect(await t.db.prisma.user.count({ where: { email: { endsWith: '@demo.local' } } })).toBe(5);
  });

  const auth = () => ({ headers: { authorization: `Bearer ${hq}` } });

  it('serves centers and a center list over REST, with clear errors', async () => {
    const centers = (await (await fetch(`${t.url}/api/centers`, auth())).json()) as { id: number }[];
    expect(centers).toHaveLength(3);
    const list = (await (await fetch(`${t.url}/api/centers/${centers[0]!.id}/deliveries`, auth())).json()) as DeliverySyncResponse;
    expect(list.rows.length).toBe(20);
    expect(list.rows.every((r) => r.centerId === centers[0]!.id)).toBe(true);
    const bad = await fetch(`${t.url}/api/centers/abc/deliveries`, auth());
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: { code: 'bad_request', message: 'centerId must be a positive integer' } });
    const missing = await fetch(`${t.url}/api/centers/999/deliveries`, auth());
    expect(missing.status).toBe(404);
    const badSince = await fetch(`${t.url}/api/centers/1/deliveries?sinceTx=yesterday`, auth());
    expect(badSince.status).toBe(400);
  });

  it('answers a burst of center lookups and lists with a couple of database reads, and a new center at once', async () => {
    let clock = 0;
    const centers = createCentersService(t.db.prisma, () => clock);
    const ids = (await t.db.prisma.center.findMany({ select: { id: true } })).map((c) => c.id);
    // A cold cache and 300 joins at once (a reconnect storm): one read runs, the rest share the next.
    const got = await Promise.all(Array.from({ length: 300 }, (_, k) => centers.get(ids[k % ids.length]!)));
    expect(got.map((c) => c.id)).toEqual(Array.from({ length: 300 }, (_, k) => ids[k % ids.length]));
    expect(centers.reads).toBeLessThanOrEqual(2 * ids.length);
    const afterJoins = centers.reads;
    await Promise.all(Array.from({ length: 50 }, () => centers.get(ids[0]!)));
    expect(centers.reads).toBe(afterJoins); // cached
    clock += 31_000; // expired: again shared, not 50 reads
    await Promise.all(Array.from({ length: 50 }, () => centers.get(ids[0]!)));
    expect(centers.reads - afterJoins).toBeLessThanOrEqual(2);
    const lists = await Promise.all(Array.from({ length: 100 }, () => centers.list()));
    expect(new Set(lists.map((l) => JSON.stringify(l))).size).toBe(1);
    expect(centers.reads - afterJoins).toBeLessThanOrEqual(4);
    // A center made now is found at once (a miss always asks the database), and so is its absence.
    await expect(centers.get(999_999)).rejects.toMatchObject({ code: 'not_found' });
    const made = await t.db.prisma.center.create({ data: { code: `T${Date.now() % 100_000}`, name: 'Burst test', lat: 1, lng: 2 } });
    try {
      expect((await centers.get(made.id)).name).toBe('Burst test');
      expect((await centers.list()).map((c) => c.id)).toContain(made.id);
    } finally {
      await t.db.prisma.center.delete({ where: { id: made.id } });
    }
  });

  it('pushes a committed delivery change to a real socket.io client in the center room', async () => {
    const s = await t.connect(NAMESPACES.dispatch, hq);
    const centerId = (await t.db.prisma.center.findFirstOrThrow({ orderBy: { id: 'asc' } })).id;
    expect(data(await ask<{ centerId: number }>(s, 'center:join', { centerId }))).toEqual({ centerId });
    const created = await createTestDelivery(t, centerId);
    const synced = data(await ask<DeliverySyncResponse>(s, 'deliveries:sync', { centerId }));
    const waiting = synced.rows.find((r) => r.deliverySeq === created.deliverySeq);
    expect(waiting).toEqual(created);
    const rider = await t.db.prisma.rider.findFirstOrThrow({ where: { centerId } });

    const before = data(await ask<DeliverySyncResponse>(s, 'deliveries:sync', { centerId }));
    const got = nextEvent<DeliveryRow>(s, 'delivery:assigned', (r) => r.deliverySeq === waiting!.deliverySeq);
    const committed = await t.app.services.deliveries.assign(waiting!.deliverySeq, rider.id, { label: 'test' });
    const row = await got;
    expect(row).toEqual(committed);
    expect(row.version).toBe(waiting!.version + 1);
    expect(Date.parse(row.modDate)).toBeGreaterThanOrEqual(Date.parse(waiting!.modDate));
    expect(row.riderName).toBe(rider.name);

    // The database holds what the event carried, and the timeline recorded it.
    const inDb = await t.db.prisma.delivery.findUniqueOrThrow({ where: { deliverySeq: row.deliverySeq } });
    expect(inDb.version).toBe(row.version);
    const events = await t.db.prisma.deliveryEvent.findMany({ where: { deliverySeq: row.deliverySeq }, orderBy: { id: 'asc' } });
    expect(events.at(-1)?.type).toBe('assigned');

    // A delta from the old watermark returns the change (the resync path).
    const delta = data(await ask<DeliverySyncResponse>(s, 'deliveries:sync', { centerId, sinceTx: before.asOf }));
    expect(delta.asOf).toBeGreaterThan(before.asOf);
    expect(delta.rows.find((r) => r.deliverySeq === row.deliverySeq)?.version).toBe(row.version);
  });

  it('answers a burst of resyncs from different watermarks with the rows each watermark asks for', async () => {
    const s = await t.connect(NAMESPACES.dispatch, hq);
    const centerId = (await t.db.prisma.center.findFirstOrThrow({ orderBy: { id: 'asc' } })).id;
    data(await ask(s, 'center:join', { centerId }));
    // Three watermarks with a change between each.
    const marks: number[] = [];
    const made: DeliveryRow[] = [];
    for (let k = 0; k < 3; k++) {
      marks.push(data(await ask<DeliverySyncResponse>(s, 'deliveries:sync', { centerId })).asOf);
      made.push(await createTestDelivery(t, centerId));
    }
    // Alone, one at a time: what each watermark asks for.
    const alone = new Map<number, number[]>();
    for (const sinceTx of marks) {
      alone.set(sinceTx, data(await ask<DeliverySyncResponse>(s, 'deliveries:sync', { centerId, sinceTx })).rows.map((r) => r.deliverySeq));
    }
    expect(alone.get(marks[0]!)).toEqual(expect.arrayContaining(made.map((r) => r.deliverySeq)));
    expect(alone.get(marks[2]!)).toEqual(expect.arrayContaining([made[2]!.deliverySeq]));
    expect(alone.get(marks[2]!)).not.toContain(made[0]!.deliverySeq);
    // Together, all in flight at once from six clients (they share database reads): the same rows per watermark.
    const clients = await Promise.all(Array.from({ length: 6 }, () => t.connect(NAMESPACES.dispatch, hq)));
    await Promise.all(clients.map((c) => ask(c, 'center:join', { centerId })));
    const burst = Array.from({ length: 30 }, (_, k) => marks[k % 3]!);
    const answers = await Promise.all(burst.map((sinceTx, k) => ask<DeliverySyncResponse>(clients[k % 6]!, 'deliveries:sync', { centerId, sinceTx })));
    answers.forEach((answer, k) => {
      expect(data(answer).rows.map((r) => r.deliverySeq)).toEqual(alone.get(burst[k]!));
    });
  });

  // A second connection holds a transaction open while the server reads; the embedded database
  // serves one connection at a time, so this runs on PostgreSQL only.
  if (backend.name === 'postgres') {
    it('catches on the next resync a change that was in flight when a read took its snapshot', async () => {
      const s = await t.connect(NAMESPACES.dispatch, hq);
      const centerId = (await t.db.prisma.center.findFirstOrThrow({ orderBy: { id: 'asc' } })).id;
      data(await ask(s, 'center:join', { centerId }));
      const made = await createTestDelivery(t, centerId);
      const other = await t.db.pool.connect();
      try {
        await other.query('BEGIN');
        await other.query('UPDATE "Delivery" SET address = $1, version = version + 1 WHERE "deliverySeq" = $2', ['in flight', made.deliverySeq]);
        const { rows } = await other.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid');
        const inFlight = Number(rows[0]!.xid);
        // Read while it is open: the row as it was, and a watermark that does not pass the open transaction.
        const full = data(await ask<DeliverySyncResponse>(s, 'deliveries:sync', { centerId }));
        expect(full.rows.find((r) => r.deliverySeq === made.deliverySeq)).toEqual(made);
        expect(full.asOf).toBeLessThanOrEqual(inFlight);
        const early = data(await ask<DeliverySyncResponse>(s, 'deliveries:sync', { centerId, sinceTx: full.asOf }));
        expect(early.rows.find((r) => r.deliverySeq === made.deliverySeq)?.version ?? made.version).toBe(made.version);
        await other.query('COMMIT');
        // Committed: the resync from that watermark brings the change, whatever commits meanwhile.
        const delta = data(await ask<DeliverySyncResponse>(s, 'deliveries:sync', { centerId, sinceTx: full.asOf }));
        expect(delta.rows.find((r) => r.deliverySeq === made.deliverySeq)).toMatchObject({ address: 'in flight', version: made.version + 1, txid: inFlight });
        expect(delta.asOf).toBeGreaterThan(inFlight);
      } finally {
        await other.query('ROLLBACK').catch(() => undefined);
        other.release();
      }
    });
  }

  it('does not deliver another center’s changes', async () => {
    const [a, b] = await t.db.prisma.center.findMany({ orderBy: { id: 'asc' }, take: 2 });
    const s = await t.connect(NAMESPACES.dispatch, hq);
    data(await ask(s, 'center:join', { centerId: a!.id }));
    const seen: DeliveryRow[] = [];
    s.on('delivery:cancelled', (r: DeliveryRow) => seen.push(r));
    const other = await createTestDelivery(t, b!.id);
    const mine = await createTestDelivery(t, a!.id);
    const gotMine = nextEvent<DeliveryRow>(s, 'delivery:cancelled', (r) => r.deliverySeq === mine.deliverySeq);
    await t.app.services.deliveries.cancel(other.deliverySeq, 'test', { label: 'test' });
    await t.app.services.deliveries.cancel(mine.deliverySeq, 'test', { label: 'test' });
    await gotMine;
    expect(seen.map((r) => r.centerId)).toEqual([a!.id]);
  });

  it('answers bad commands through the ack, without internals', async () => {
    const s = await t.connect(NAMESPACES.dispatch, hq);
    const res = await ask(s, 'center:join', { centerId: 'x' });
    expect('error' in res && res.error.code).toBe('bad_request');
    const missing = await ask(s, 'center:join', { centerId: 424242 });
    expect(missing).toEqual({ error: { code: 'not_found', message: 'Center 424242 not found' } });
  });

  it('answers a socket that floods commands with rate_limited, and keeps serving it afterwards', async () => {
    const s = await t.connect(NAMESPACES.dispatch, hq);
    const answers = await Promise.all(Array.from({ length: COMMANDS_PER_SECOND + 20 }, () => ask(s, 'centers:list', {})));
    const limited = answers.filter((a) => 'error' in a && a.error.code === 'rate_limited');
    expect(limited.length).toBeGreaterThanOrEqual(20);
    expect(answers.filter((a) => 'data' in a).length).toBeLessThanOrEqual(COMMANDS_PER_SECOND);
    await new Promise((r) => setTimeout(r, 1100));
    expect('data' in (await ask(s, 'centers:list', {}))).toBe(true);
    expect(s.connected).toBe(true);
  });

  it('refuses an invalid transition and leaves the row unchanged', async () => {
    const d = await t.db.prisma.delivery.findFirstOrThrow({ where: { status: 'delivered' } });
    await expect(t.app.services.deliveries.pickUp(d.deliverySeq, { label: 'test' })).rejects.toMatchObject({ code: 'invalid_transition' });
    const after = await t.db.prisma.delivery.findUniqueOrThrow({ where: { deliverySeq: d.deliverySeq } });
    expect(after.version).toBe(d.version);
  });
});
