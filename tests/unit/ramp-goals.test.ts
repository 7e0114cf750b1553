import { describe, expect, it } from 'vitest';
import { describeDrops, keptUp, metP99, rampGoals, sumDrops } from '../../bench/capacity';

describe('capacity ramp goals', () => {
  it('steps to the top, ending on it', () => {
    expect(rampGoals(6000, 18_000, null)).toEqual([6000, 12_000, 18_000]);
    expect(rampGoals(7000, 18_000, null)).toEqual([7000, 14_000, 18_000]);
    expect(rampGoals(20_000, 5000, null)).toEqual([5000]);
  });
  it('adds the fan-out count between steps, once, and ignores it beyond the top', () => {
    expect(rampGoals(15_000, 60_000, 6000)).toEqual([6000, 15_000, 30_000, 45_000, 60_000]);
    expect(rampGoals(6000, 18_000, 12_000)).toEqual([6000, 12_000, 18_000]);
    expect(rampGoals(6000, 18_000, 30_000)).toEqual([6000, 12_000, 18_000]);
  });
});

describe('capacity storm drops', () => {
  it('adds up the load generators\' reasons and names the largest first', () => {
    const d = sumDrops([
      { reasons: { 'transport close': 3700, 'ping timeout': 40 } },
      { reasons: { 'transport close': 3800 } },
    ]);
    expect(d).toEqual({ reasons: { 'transport close': 7500, 'ping timeout': 40 } });
    expect(describeDrops(d)).toBe('transport close 7500, ping timeout 40');
    expect(describeDrops(sumDrops([]))).toBe('none');
  });
});

describe('capacity fan-out conditions', () => {
  const step = { offered: 20_000, expected: 60_000, received: 60_000, delivered: 19_500, latency: { p99: 90 } };
  it('keeps up when every message arrived at 95 % of the offered rate or more', () => {
    expect(keptUp(step)).toBe(true);
    expect(keptUp({ ...step, delivered: 18_999 })).toBe(false);
    expect(keptUp({ ...step, received: 59_999 })).toBe(false);
  });
  it('meets the latency condition at p99 <= 100 ms, whatever the rate', () => {
    expect(metP99(step)).toBe(true);
    expect(metP99({ latency: { p99: 100.1 } })).toBe(false);
  });
});
