import { describe, expect, it } from 'vitest';
import { isNewer, mergeRows, newestModDate } from '../../protocol/merge';

type R = { id: number; modDate: string; version: number; v: string };
const row = (id: number, modDate: string, version: number, v = `${id}@${version}`): R => ({ id, modDate, version, v });
const key = (r: R) => r.id;

describe('merge rule (deliverySeq + modDate, then version)', () => {
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

  it('drops a stale row (older modDate) even with a higher version', () => {
    const m = new Map<number, R>([[1, row(1, '2026-11-25T10:00:05.000Z', 2)]]);
    expect(mergeRows(m, [row(1, '2026-11-25T10:00:04.999Z', 9)], key)).toEqual([]);
    expect(m.get(1)?.version).toBe(2);
  });

  it('breaks an equal modDate by the higher version', () => {
    const t = '2026-11-25T10:00:00.000Z';
    const m = new Map<number, R>([[1, row(1, t, 2)]]);
    expect(mergeRows(m, [row(1, t, 3)], key)).toHaveLength(1);
    expect(m.get(1)?.version).toBe(3);
    expect(mergeRows(m, [row(1, t, 2)], key)).toEqual([]);
  });

  it('compares instants, not strings, across time-zone offsets', () => {
    expect(isNewer(row(1, '2026-11-25T19:00:01+09:00', 1), row(1, '2026-11-25T10:00:00.000Z', 5))).toBe(true);
  });

  it('converges to the same state whatever the order of a shuffled stream', () => {
    const events: R[] = [];
    for (let id = 1; id <= 20; id++)
      for (let v = 1; v <= 5; v++) events.push(row(id, new Date(Date.UTC(2026, 10, 25, 10, 0, v)).toISOString(), v));
    const expected = new Map<number, R>();
    mergeRows(expected, events, key);
    for (let trial = 0; trial < 20; trial++) {
      const shuffled = [...events, ...events.slice(0, 30)].sort(() => Math.random() - 0.5);
      const m = new Map<number, R>();
      mergeRows(m, shuffled, key);
      expect([...m.values()].map((r) => r.v).sort()).toEqual([...expected.values()].map((r) => r.v).sort());
    }
  });

  it('reports the newest modDate as the watermark', () => {
    expect(newestModDate([])).toBeUndefined();
    expect(
      newestModDate([row(1, '2026-11-25T10:00:00.000Z', 1), row(2, '2026-11-25T10:00:09.000Z', 1), row(3, '2026-11-25T10:00:03.000Z', 1)]),
    ).toBe('2026-11-25T10:00:09.000Z');
  });
});
