import { describe, expect, it } from 'vitest';
import { isNewer, mergeRows, parseDbSnapshot, visibleIn, watermarkOf } from '../../protocol/merge';
import { rowsToRepair, statusCode, type DeliverySnapshot } from '../../protocol/snapshot';
import type { DeliveryRow } from '../../protocol/deliveries';

type R = { id: number; modDate: string; version: number; v: string };
const row = (id: number, modDate: string, version: number, v = `${id}@${version}`): R => ({ id, modDate, version, v });
const key = (r: R) => r.id;

describe('merge rule (database-assigned version only)', () => {
  it('accepts a row for an unknown key', () => {
    const m = new Map<number, R>();
    expect(mergeRows(m, [row(1, '2026-11-25T10:00:00.000Z', 1)], key)).toHaveLength(1);
    expect(m.get(1)?.version).toBe(1);
  });

  it('keeps the newer row when events arrive out of order', () => {
    const m = new Map<number, R>();
    const newer = row(1, '2026-11-25T10:00:05.000Z', 3);
    const older = row(1, '2026-11-25T10:00:01.000Z', 2);
    mergeRows(m, [newer, older], key);
    expect(m.get(1)).toBe(newer);
  });

  it('ignores an exact duplicate', () => {
    const m = new Map<number, R>();
    const a = row(1, '2026-11-25T10:00:00.000Z', 2);
    mergeRows(m, [a], key);
    expect(mergeRows(m, [{ ...a }], key)).toEqual([]);
    expect(m.get(1)).toBe(a);
  });

  it('takes the higher version even when its modDate is older (a node clock behind)', () => {
    // Version 3 was written by a node whose clock is 10 s behind the one that wrote version 2:
    // the old rule (modDate first) dropped it for good.
    const m = new Map<number, R>([[1, row(1, '2026-11-25T10:00:10.000Z', 2)]]);
    expect(mergeRows(m, [row(1, '2026-11-25T10:00:01.000Z', 3)], key)).toHaveLength(1);
    expect(m.get(1)?.version).toBe(3);
  });

  it('drops a lower version even when its modDate is newer (a node clock ahead)', () => {
    const m = new Map<number, R>([[1, row(1, '2026-11-25T10:00:00.000Z', 4)]]);
    expect(mergeRows(m, [row(1, '2026-11-25T10:00:30.000Z', 3)], key)).toEqual([]);
    expect(isNewer(row(1, '2026-11-25T10:00:30.000Z', 3), m.get(1))).toBe(false);
  });

  it('converges to the same state whatever the order of a shuffled stream', () => {
    const events: R[] = [];
    for (let id = 1; id <= 20; id++)
      for (let v = 1; v <= 5; v++) events.push(row(id, new Date(Date.UTC(2026, 10, 25, 10, 0, (v * 7919) % 13)).toISOString(), v));
    const expected = new Map<number, R>();
    mergeRows(expected, events, key);
    expect([...expected.values()].every((r) => r.version === 5)).toBe(true);
    for (let trial = 0; trial < 20; trial++) {
      const shuffled = [...events, ...events.slice(0, 30)].sort(() => Math.random() - 0.5);
      const m = new Map<number, R>();
      mergeRows(m, shuffled, key);
      expect([...m.values()].map((r) => r.v).sort()).toEqual([...expected.values()].map((r) => r.v).sort());
    }
  });
});

describe('database snapshots and watermarks', () => {
  it('parses pg_current_snapshot() text', () => {
    expect(parseDbSnapshot('745:750:745,748')).toEqual({ xmin: 745, xmax: 750, xip: [745, 748] });
    expect(parseDbSnapshot('800:800:')).toEqual({ xmin: 800, xmax: 800, xip: [] });
    expect(() => parseDbSnapshot('soon')).toThrow(/not a PostgreSQL snapshot/);
  });

  it('tells which transactions a snapshot saw', () => {
    const s = parseDbSnapshot('745:750:745,748');
    expect(visibleIn(s, 700)).toBe(true);
    expect(visibleIn(s, 745)).toBe(false); // in progress
    expect(visibleIn(s, 746)).toBe(true); // committed before the read
    expect(visibleIn(s, 748)).toBe(false);
    expect(visibleIn(s, 750)).toBe(false); // not started
  });

  it('keeps xmin as the watermark, so a transaction that commits late is still asked for', () => {
    // 745 got its id before 746..749 but was still running when the rows were read: a watermark of
    // "the highest txid held" (749) would skip it for good; xmin (745) does not.
    const s = parseDbSnapshot('745:750:745,748');
    expect(watermarkOf(s)).toBe(745);
    expect(745 >= watermarkOf(s)).toBe(true);
  });
});

describe('snapshot digest repair', () => {
  const base: DeliveryRow = {
    deliverySeq: 1, centerId: 1, orderNo: 'A', shopName: 's', shopAddress: 'a', address: 'b', lat: 0, lng: 0,
    riderId: null, riderName: null, status: 'waiting', createdAt: '2026-11-25T10:00:00.000Z', assignedAt: null,
    pickedUpAt: null, deliveredAt: null, cancelledAt: null, modDate: '2026-11-25T10:00:00.000Z', version: 1, txid: 100,
  };
  const held = (rows: DeliveryRow[]) => {
    const m = new Map(rows.map((r) => [r.deliverySeq, r]));
    return [(seq: number) => m.get(seq), m.values()] as const;
  };

  it('fetches rows held at a lower version or not held, whatever their modDates say', () => {
    const snap: DeliverySnapshot = { centerId: 1, asOf: { xmin: 200, xmax: 200, xip: [] }, since: 0, rows: [[1, 2, statusCode('assigned')], [2, 1, 0]] };
    const [get, all] = held([{ ...base, modDate: '2030-01-01T00:00:00.000Z' }]);
    expect(rowsToRepair(snap, get, all).sort()).toEqual([1, 2]);
  });

  it('fetches an active row the digest saw but no longer lists; leaves one written after the digest', () => {
    const snap: DeliverySnapshot = { centerId: 1, asOf: { xmin: 150, xmax: 160, xip: [155] }, since: 0, rows: [] };
    const [get, all] = held([
      { ...base, deliverySeq: 1, txid: 120 }, // seen: it finished since
      { ...base, deliverySeq: 2, txid: 155 }, // in progress at the read: newer than the digest
      { ...base, deliverySeq: 3, txid: 170 }, // started after the read
      { ...base, deliverySeq: 4, txid: 120, status: 'delivered' }, // finished rows need nothing
    ]);
    expect(rowsToRepair(snap, get, all)).toEqual([1]);
  });
});
