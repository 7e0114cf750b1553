import { describe, expect, it } from 'vitest';
import { bestStep, deliveredPerSecond, describeDrops, keptUp, loadBound, metP99, probeNiceText, rampGoals, stormLoadBoundNote, sumDrops } from '../../bench/capacity';
import { coreBusyPct, parseCoreTimes } from '../../bench/lib';

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

describe('capacity fan-out bounds', () => {
  it('picks the step that delivered the most', () => {
    const steps = [{ delivered: 10 }, { delivered: 30 }, { delivered: 20 }];
    expect(bestStep(steps)).toBe(steps[1]);
    expect(bestStep([])).toBeUndefined();
  });
  it('calls a step load-bound when the load CPU was 90 % busy or more', () => {
    expect(loadBound({ coreBusy: { server: 100, load: 90 } })).toBe(true);
    expect(loadBound({ coreBusy: { server: 100, load: 89.9 } })).toBe(false);
    expect(loadBound({ coreBusy: { server: null, load: null } })).toBe(false);
  });
});

describe('CPU busy time from /proc/stat', () => {
  const before = parseCoreTimes(
    ['cpu  300 0 100 900 50 0 0 0 0 0', 'cpu0 200 0 50 300 40 0 10 0 0 0', 'cpu1 100 0 50 600 10 0 0 0 0 0', 'intr 1 2 3'].join('\n'),
  );
  const after = parseCoreTimes(
    ['cpu  0 0 0 0 0 0 0 0 0 0', 'cpu0 280 0 70 300 40 0 10 0 0 0', 'cpu1 110 0 50 690 10 0 0 0 0 0'].join('\n'),
  );
  it('reads each CPU, not the sum line, busy being all but idle and iowait', () => {
    expect([...before.keys()]).toEqual([0, 1]);
    expect(before.get(0)).toEqual({ busy: 260, total: 600 });
  });
  it('gives the busy share between two readings, or null without both', () => {
    expect(coreBusyPct(before, after, 0)).toBe(100);
    expect(coreBusyPct(before, after, 1)).toBe(10);
    expect(coreBusyPct(before, after, 2)).toBeNull();
    expect(coreBusyPct(before, after, null)).toBeNull();
    expect(coreBusyPct(after, after, 0)).toBeNull();
  });
});

describe('capacity delivered per second', () => {
  // 15 publishes to rooms of 2,000 at 10,000 deliveries/s: 5 publishes a second, a 3 s schedule.
  it('is the offered rate when the last message came within the schedule', () => {
    expect(deliveredPerSecond(30_000, 15, 5, 2_850)).toBe(10_000);
  });
  it('is charged the time to the last message when the server fell behind', () => {
    expect(deliveredPerSecond(30_000, 15, 5, 6_000)).toBe(5_000);
  });
  it('counts only what was received', () => {
    expect(deliveredPerSecond(15_000, 15, 5, 1_000)).toBe(5_000);
  });
});

describe('the probe priority in the report', () => {
  it('says whether every target had its probe ahead of the load generators', () => {
    expect(probeNiceText([-10, -10])).toBe('at nice -10, ahead of the load generators on its CPU');
    expect(probeNiceText([0])).toBe("at the load generators' priority (raising it to nice -10 was not allowed)");
    expect(probeNiceText([-10, 0, -10])).toBe('at nice -10 for 2 of 3 targets');
  });
});

describe('a storm the load CPU may have bounded', () => {
  it('is said under the storm table only when the load CPU was at least 90 % busy', () => {
    const storm = { target: 'product, 4 workers', coreBusy: { server: 87, load: 98 }, loadgenLagP99Ms: 2401 };
    expect(stormLoadBoundNote(storm)).toBe(
      "product, 4 workers: the load CPU was 98 % busy over the storm and the load generators' event loop ran up to 2401 ms late (p99), server CPU 87 % busy: the clients' own reconnects may have set how long the storm took.",
    );
    expect(stormLoadBoundNote({ ...storm, coreBusy: { server: 99, load: 89 } })).toBe('');
    expect(stormLoadBoundNote({ ...storm, coreBusy: { server: null, load: null } })).toBe('');
  });
});
