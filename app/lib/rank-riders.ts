import { distanceKm, type RiderRow } from '@/protocol';

export interface RankedRider {
  rider: RiderRow;
  /** Active deliveries (assigned or picked up) the rider carries now. */
  load: number;
  /** Kilometres from the rider's last position to the delivery's drop-off, or null if unknown. */
  distanceKm: number | null;
}

const STATUS_ORDER = { idle: 0, busy: 1, off: 2 } as const;

/**
 * Who should take a delivery: idle riders first, then the nearest, then the least loaded; riders
 * off duty last (shown, but not assignable). Pure, so it is unit-tested and cheap to run each time
 * the dialog opens.
 */
export function rankRiders(
  riders: Iterable<RiderRow>,
  target: { lat: number; lng: number },
  loadOf: (riderId: number) => number,
  positionOf: (rider: RiderRow) => { lat: number; lng: number } | null = (r) => (r.lat !== null && r.lng !== null ? { lat: r.lat, lng: r.lng } : null),
): RankedRider[] {
  const ranked = [...riders].map((rider) => {
    const pos = positionOf(rider);
    return { rider, load: loadOf(rider.id), distanceKm: pos ? distanceKm(pos, target) : null };
  });
  ranked.sort(
    (a, b) =>
      STATUS_ORDER[a.rider.status] - STATUS_ORDER[b.rider.status] ||
      (a.distanceKm ?? Infinity) - (b.distanceKm ?? Infinity) ||
      a.load - b.load ||
      a.rider.name.localeCompare(b.rider.name),
  );
  return ranked;
}
