/**
 * When a rider's position is worth sending: at most once per 10 s, and then only when they moved
 * more than ~20 m or a minute passed since the last one (so a parked rider still shows as alive).
 * Pure, unit-tested.
 */
export const POSITION_MIN_INTERVAL_MS = 10_000;
export const POSITION_MIN_DISTANCE_M = 20;
export const POSITION_MAX_SILENCE_MS = 60_000;

export interface LatLng {
  lat: number;
  lng: number;
}
export interface SentFix extends LatLng {
  /** When it was sent (ms since epoch). */
  at: number;
}

const EARTH_RADIUS_M = 6_371_000;
const rad = (deg: number) => (deg * Math.PI) / 180;

/** Great-circle distance in metres (haversine). */
export function distanceMeters(a: LatLng, b: LatLng): number {
  const dLat = rad(b.lat - a.lat);
  const dLng = rad(b.lng - a.lng);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

export function shouldSendPosition(last: SentFix | null, next: LatLng, now: number): boolean {
  if (!last) return true;
  const elapsed = now - last.at;
  if (elapsed < POSITION_MIN_INTERVAL_MS) return false;
  return elapsed >= POSITION_MAX_SILENCE_MS || distanceMeters(last, next) > POSITION_MIN_DISTANCE_M;
}
