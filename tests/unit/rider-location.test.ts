import { describe, expect, it } from 'vitest';
import { distanceMeters, shouldSendPosition } from '../../app/rider/location-throttle';

const here = { lat: 37.5, lng: 127.03 };
/** ~`m` metres north of `p`. */
const north = (p: { lat: number; lng: number }, m: number) => ({ lat: p.lat + m / 111_195, lng: p.lng });

describe('rider position throttle', () => {
  it('measures distances in metres', () => {
    expect(distanceMeters(here, here)).toBe(0);
    expect(distanceMeters(here, north(here, 100))).toBeCloseTo(100, 0);
  });

  it('sends the first fix at once', () => {
    expect(shouldSendPosition(null, here, 0)).toBe(true);
  });

  it('never sends more than once per 10 s, however far the rider moved', () => {
    const last = { ...here, at: 1_000_000 };
    expect(shouldSendPosition(last, north(here, 500), 1_000_000 + 9_999)).toBe(false);
    expect(shouldSendPosition(last, north(here, 500), 1_000_000 + 10_000)).toBe(true);
  });

  it('after 10 s, sends only when moved more than ~20 m, or when a minute passed', () => {
    const last = { ...here, at: 0 };
    expect(shouldSendPosition(last, north(here, 15), 30_000)).toBe(false);
    expect(shouldSendPosition(last, north(here, 25), 30_000)).toBe(true);
    expect(shouldSendPosition(last, here, 59_999)).toBe(false);
    expect(shouldSendPosition(last, here, 60_000)).toBe(true);
  });
});
