import { describe, expect, it } from 'vitest';
import { visibleRows, type BoardQuery } from '../../app/lib/board';
import { createDeliveriesStore, INITIAL_SYNC, type RowsView } from '../../app/lib/deliveries-store';
import { countByStatus, isCarried, isLate, type DeliveryRow, type DeliveryStatus } from '../../protocol';

const HOUR = 3_600_000;
const base = Date.parse('2026-12-01T12:00:00.000Z');

function row(deliverySeq: number, version: number, createdAgoHours = 1): DeliveryRow {
  const createdAt = new Date(base - createdAgoHours * HOUR).toISOString();
  return {
    deliverySeq,
    centerId: 1,
    orderNo: `O${deliverySeq}`,
    shopName: 'Shop',
    shopAddress: '1 Shop-ro',
    address: `${deliverySeq} Home-ro`,
    lat: 37.5,
    lng: 127,
    riderId: null,
    riderName: null,
    status: 'waiting',
    createdAt,
    assignedAt: null,
    pickedUpAt: null,
    deliveredAt: null,
    cancelledAt: null,
    modDate: new Date(base).toISOString(),
    version,
    txid: version,
  };
}

describe('deliveries store', () => {
  it('publishes a batch of applies and a status change as one store update', () => {
    const store = createDeliveriesStore();
    let updates = 0;
    store.subscribe(() => (updates += 1));
    const state = store.getState();
    state.rowStore.batch!(() => {
      state.rowStore.apply([row(1, 1)]);
      state.rowStore.apply([row(2, 1), row(3, 1)]);
      state.setSync({ ...INITIAL_SYNC, link: 'live' });
    });
    expect(updates).toBe(1);
    const s = store.getState();
    expect(s.revision).toBe(1);
    expect(s.sync.link).toBe('live');
    expect(s.view.order).toEqual([3, 2, 1]);
  });

  it('publishes nothing for a batch whose rows are all stale', () => {
    const store = createDeliveriesStore();
    store.getState().rowStore.apply([row(1, 2)]);
    let updates = 0;
    store.subscribe(() => (updates += 1));
    store.getState().rowStore.batch!(() => store.getState().rowStore.apply([row(1, 1)]));
    expect(updates).toBe(0);
  });

  it('keeps the sorted order when existing rows change, re-sorts when rows are added', () => {
    const store = createDeliveriesStore();
    const { rowStore } = store.getState();
    rowStore.apply([row(5, 1), row(9, 1), row(7, 1)]);
    const order = store.getState().view.order;
    expect(order).toEqual([9, 7, 5]);
    rowStore.apply([row(7, 2)]);
    expect(store.getState().view.order).toBe(order);
    expect(store.getState().view.rows.get(7)?.version).toBe(2);
    rowStore.apply([row(8, 1)]);
    expect(store.getState().view.order).toEqual([9, 8, 7, 5]);
  });

  it('drops rows that left the day window, and only those', () => {
    const store = createDeliveriesStore();
    const { rowStore } = store.getState();
    rowStore.apply([row(1, 1, 30), row(2, 1, 25), row(3, 1, 2)]);
    const before = store.getState().revision;
    expect(store.getState().prune(base - 24 * HOUR)).toBe(2);
    expect(store.getState().revision).toBe(before + 1);
    expect([...store.getState().rows.keys()]).toEqual([3]);
    expect(store.getState().view.order).toEqual([3]);
    expect(store.getState().prune(base - 24 * HOUR)).toBe(0);
    expect(store.getState().revision).toBe(before + 1);
  });

  it('keeps the order sorted, newest first, however rows arrive, without changing an older view', () => {
    const store = createDeliveriesStore();
    const { rowStore } = store.getState();
    let seen: number[] = [];
    for (let i = 0; i < 300; i++) {
      // Bursts of 1-3 new rows (placed one by one) and, now and then, 100 at once (full sort).
      const n = i % 50 === 49 ? 100 : 1 + (i % 3);
      const batch = Array.from({ length: n }, () => row(1 + Math.floor(Math.random() * 100_000), 1));
      const older = store.getState().view.order;
      const olderCopy = [...older];
      rowStore.apply(batch);
      seen = [...new Set([...seen, ...batch.map((r) => r.deliverySeq)])];
      expect(store.getState().view.order).toEqual([...seen].sort((a, b) => b - a));
      expect(older).toEqual(olderCopy);
    }
  });

  it('keeps the status, late and rider-load tallies equal to a recount after every change', () => {
    const store = createDeliveriesStore();
    const { rowStore } = store.getState();
    const statuses: DeliveryStatus[] = ['waiting', 'assigned', 'picked_up', 'delivered', 'cancelled'];
    const lateBefore = base - 30 * 60_000;
    store.getState().setLateBefore(lateBefore);
    const versions = new Map<number, number>();
    const recount = (v: RowsView) => {
      const all = [...v.rows.values()];
      const load = new Map<number, number>();
      for (const r of all) if (isCarried(r.status) && r.riderId !== null) load.set(r.riderId, (load.get(r.riderId) ?? 0) + 1);
      return { counts: countByStatus(all), late: all.filter((r) => isLate(r, base, 30)).length, load };
    };
    for (let i = 0; i < 400; i++) {
      const seq = 1 + (i % 40);
      const version = (versions.get(seq) ?? 0) + 1;
      versions.set(seq, version);
      const status = statuses[(i * 7 + seq) % statuses.length]!;
      const riderId = status === 'waiting' ? null : 1 + (seq % 4);
      // Created 10 min to 70 min ago: some late while active.
      const changed = { ...row(seq, version, (10 + ((seq * 13) % 60)) / 60), status, riderId };
      // Now and then a stale duplicate, which must change nothing.
      rowStore.apply(i % 9 === 0 ? [changed, { ...changed, version: version - 1, status: 'cancelled' as const }] : [changed]);
      const v = store.getState().view;
      const expected = recount(v);
      expect(v.counts).toEqual(expected.counts);
      expect(v.lateCount).toBe(expected.late);
      expect(new Map(v.loadByRider)).toEqual(expected.load);
    }
    // Moving the late threshold recounts; pruning and reset re-tally.
    store.getState().setLateBefore(base);
    expect(store.getState().view.lateCount).toBe([...store.getState().rows.values()].filter((r) => isLate(r, base + 1, 0)).length);
    store.getState().reset();
    expect(store.getState().view.counts).toEqual({ waiting: 0, assigned: 0, picked_up: 0, delivered: 0, cancelled: 0 });
    expect(store.getState().view.lateCount).toBe(0);
    expect(store.getState().view.loadByRider.size).toBe(0);
  });

  it('lists the store order unfiltered, and filters by status, lateness and text', () => {
    const store = createDeliveriesStore();
    const { rowStore } = store.getState();
    rowStore.apply([
      { ...row(1, 1, 2), shopName: 'Kimbap Heaven' },
      { ...row(2, 1, 0.1), status: 'assigned', riderId: 3, riderName: 'Minjun' },
      { ...row(3, 1, 0.2), status: 'delivered', riderId: 3, riderName: 'Minjun' },
    ]);
    const view = store.getState().view;
    const q: BoardQuery = { selection: 1, filter: 'all', query: '', nowMs: base, lateAfterMinutes: 30 };
    const seqs = (l: ReturnType<typeof visibleRows>) => Array.from({ length: l.length }, (_, i) => l.at(i)?.deliverySeq);
    expect(seqs(visibleRows(view, q))).toEqual([3, 2, 1]);
    expect(visibleRows(view, q).indexOf(2)).toBe(1);
    expect(seqs(visibleRows(view, { ...q, filter: 'assigned' }))).toEqual([2]);
    expect(seqs(visibleRows(view, { ...q, filter: 'late' }))).toEqual([1]);
    expect(seqs(visibleRows(view, { ...q, query: ' MINJUN ' }))).toEqual([3, 2]);
    expect(seqs(visibleRows(view, { ...q, query: 'kimbap' }))).toEqual([1]);
    expect(visibleRows(view, { ...q, query: 'kimbap' }).indexOf(3)).toBe(-1);
    expect(visibleRows(view, { ...q, selection: null }).length).toBe(0);
  });
});
