import { describe, expect, it } from 'vitest';
import { createDeliveriesStore, INITIAL_SYNC } from '../../app/lib/deliveries-store';
import type { DeliveryRow } from '../../protocol';

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
});
