import { describe, expect, it } from 'vitest';
import type { RiderRow } from '../../protocol';
import { rankRiders } from '../../app/lib/rank-riders';

const rider = (id: number, status: RiderRow['status'], lat: number | null, lng: number | null, name = `R${id}`): RiderRow => ({
  id,
  centerId: 1,
  name,
  status,
  lat,
  lng,
  lastSeenAt: null,
  modDate: '2026-11-25T10:00:00.000Z',
  version: 1,
});
const target = { lat: 37.5, lng: 127.0 };

describe('rankRiders', () => {
  it('puts idle riders first, then busy, then off duty', () => {
    const ranked = rankRiders([rider(1, 'off', 37.5, 127), rider(2, 'busy', 37.5, 127), rider(3, 'idle', 37.6, 127.1)], target, () => 0);
    expect(ranked.map((r) => r.rider.id)).toEqual([3, 2, 1]);
  });

  it('orders by distance within a status, unknown positions last', () => {
    const ranked = rankRiders([rider(1, 'idle', null, null), rider(2, 'idle', 37.52, 127), rider(3, 'idle', 37.501, 127)], target, () => 0);
    expect(ranked.map((r) => r.rider.id)).toEqual([3, 2, 1]);
    expect(ranked[0]!.distanceKm).toBeCloseTo(0.11, 1);
    expect(ranked[2]!.distanceKm).toBeNull();
  });

  it('breaks equal distance by load, then name', () => {
    const load = new Map([[1, 2], [2, 0], [3, 0]]);
    const ranked = rankRiders([rider(1, 'busy', 37.5, 127, 'A'), rider(2, 'busy', 37.5, 127, 'C'), rider(3, 'busy', 37.5, 127, 'B')], target, (id) => load.get(id) ?? 0);
    expect(ranked.map((r) => r.rider.id)).toEqual([3, 2, 1]);
  });

  it('uses live positions when given', () => {
    const ranked = rankRiders([rider(1, 'idle', 37.5, 127), rider(2, 'idle', 38, 128)], target, () => 0, (r) => (r.id === 2 ? target : { lat: 37.6, lng: 127.2 }));
    expect(ranked[0]!.rider.id).toBe(2);
  });
});
