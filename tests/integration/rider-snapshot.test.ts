import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NAMESPACES, rowsToRepair, type DeliverySnapshot } from '../../protocol';
import { BACKENDS } from '../support/backends';
import { createTestDelivery, nextEvent, startTestApp, type TestApp } from '../support/app';

describe.each(BACKENDS)('rider digest on $name', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend, { deliveries: 6 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('sends each signed-in rider the digest of their own deliveries, privately', async () => {
    const me = await t.db.prisma.rider.findFirstOrThrow({ where: { user: { email: 'rider@demo.local' } } });
    const other = await t.db.prisma.rider.findFirstOrThrow({ where: { centerId: me.centerId, userId: null } });
    const mine = await createTestDelivery(t, me.centerId);
    const theirs = await createTestDelivery(t, me.centerId);
    const assigned = await t.app.services.deliveries.assign(mine.deliverySeq, me.id, { label: 'test' });
    await t.app.services.deliveries.assign(theirs.deliverySeq, other.id, { label: 'test' });

    const rider = await t.connect(NAMESPACES.dispatch, await t.token('rider@demo.local'));
    const dispatcher = await t.connect(NAMESPACES.dispatch, await t.token('dispatcher@demo.local'));
    await dispatcher.timeout(5000).emitWithAck('center:join', { centerId: me.centerId });
    const riderDigest = nextEvent<DeliverySnapshot>(rider, 'deliveries:snapshot');
    const centerDigest = nextEvent<DeliverySnapshot>(dispatcher, 'deliveries:snapshot', (s) => s.riderId === undefined);
    let dispatcherGotPrivate = false;
    dispatcher.on('deliveries:snapshot', (s: DeliverySnapshot) => (dispatcherGotPrivate ||= s.riderId !== undefined));
    await t.app.snapshot.runOnce();

    const digest = await riderDigest;
    expect(digest.riderId).toBe(me.id);
    const seqs = digest.rows.map(([seq]) => seq);
    expect(seqs).toContain(mine.deliverySeq);
    expect(seqs).not.toContain(theirs.deliverySeq);
    expect((await centerDigest).rows.map(([seq]) => seq)).toEqual(expect.arrayContaining([mine.deliverySeq, theirs.deliverySeq]));
    expect(dispatcherGotPrivate).toBe(false);

    // A rider holding an older copy of their delivery learns from the digest that it must reload.
    const stale = { ...assigned, version: assigned.version - 1, modDate: mine.modDate, status: 'waiting' as const };
    expect(rowsToRepair(digest, (seq) => (seq === mine.deliverySeq ? stale : undefined), [stale])).toContain(mine.deliverySeq);
    expect(rowsToRepair(digest, (seq) => (seq === mine.deliverySeq ? assigned : undefined), [assigned])).not.toContain(mine.deliverySeq);
  });
});
