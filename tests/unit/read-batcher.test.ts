import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createReadBatcher } from '../../server/db/read-batcher';

/** A read whose completion the test controls, recording what it was asked and when it began. */
function controlledReads(minIntervalMs?: number) {
  const started: { reqs: number[]; finish: (v: string) => void; fail: (e: Error) => void }[] = [];
  const batcher = createReadBatcher({
    minIntervalMs,
    key: (n: number) => (n >= 100 ? 'big' : 'small'),
    run: (reqs) =>
      new Promise<string>((resolve, reject) => {
        started.push({ reqs: [...reqs], finish: resolve, fail: reject });
      }),
    pick: (batch, req) => `${batch}:${req}`,
  });
  return { batcher, started };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('read batcher', () => {
  it('serves requests that arrive while a read runs with one later read, never the running one', async () => {
    const { batcher, started } = controlledReads();
    const first = batcher.read(1);
    const second = batcher.read(2);
    const third = batcher.read(3);
    expect(started.map((s) => s.reqs)).toEqual([[1]]);

    started[0]!.finish('A');
    await expect(first).resolves.toBe('A:1');
    await tick();
    // 2 and 3 came after read A began: they share read B, which starts only now.
    expect(started.map((s) => s.reqs)).toEqual([[1], [2, 3]]);
    started[1]!.finish('B');
    await expect(second).resolves.toBe('B:2');
    await expect(third).resolves.toBe('B:3');
    expect(batcher.reads).toBe(2);
  });

  it('keeps keys apart', async () => {
    const { batcher, started } = controlledReads();
    const small = batcher.read(1);
    const big = batcher.read(100);
    expect(started.map((s) => s.reqs)).toEqual([[1], [100]]);
    started[1]!.finish('Big');
    started[0]!.finish('Small');
    await expect(small).resolves.toBe('Small:1');
    await expect(big).resolves.toBe('Big:100');
  });

  it('gives a failed read to its own batch only, and the next batch reads again', async () => {
    const { batcher, started } = controlledReads();
    const first = batcher.read(1);
    const second = batcher.read(2);
    started[0]!.fail(new Error('database unavailable'));
    await expect(first).rejects.toThrow('database unavailable');
    await tick();
    started[1]!.finish('C');
    await expect(second).resolves.toBe('C:2');
  });

  it('turns a throwing read or pick into rejections, not a crash', async () => {
    const throwing = createReadBatcher({
      key: () => 'k',
      run: (): Promise<number> => {
        throw new Error('bad query');
      },
      pick: (b: number) => b,
    });
    await expect(throwing.read(1)).rejects.toThrow('bad query');
    const badPick = createReadBatcher({
      key: () => 'k',
      run: () => Promise.resolve(1),
      pick: (_b: number, req: number) => {
        if (req === 2) throw new Error('cannot pick');
        return req;
      },
    });
    await expect(Promise.all([badPick.read(1), badPick.read(2).catch((e: Error) => e.message)])).resolves.toEqual([1, 'cannot pick']);
  });
});

describe('read batcher with reads spaced apart', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('starts the next read of a key no sooner than the interval after the last began, with everyone who came meanwhile', async () => {
    const { batcher, started } = controlledReads(100);
    const first = batcher.read(1);
    expect(started.map((s) => s.reqs)).toEqual([[1]]);
    vi.advanceTimersByTime(10);
    started[0]!.finish('A');
    await expect(first).resolves.toBe('A:1');

    // Read A began 10 ms ago: these wait for the interval to pass, and then share one read.
    const second = batcher.read(2);
    await vi.advanceTimersByTimeAsync(50);
    const third = batcher.read(3);
    await vi.advanceTimersByTimeAsync(39);
    expect(started).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(started.map((s) => s.reqs)).toEqual([[1], [2, 3]]);
    started[1]!.finish('B');
    await expect(second).resolves.toBe('B:2');
    await expect(third).resolves.toBe('B:3');
  });

  it('does not hold back requests when the last read outlasted the interval', async () => {
    const { batcher, started } = controlledReads(100);
    const first = batcher.read(1);
    const second = batcher.read(2);
    await vi.advanceTimersByTimeAsync(150);
    started[0]!.finish('A');
    await expect(first).resolves.toBe('A:1');
    await vi.advanceTimersByTimeAsync(0);
    // A took longer than the interval, so 2 does not wait any more.
    expect(started.map((s) => s.reqs)).toEqual([[1], [2]]);
    started[1]!.finish('B');
    await expect(second).resolves.toBe('B:2');
  });

  it('reads a key that was not read for the interval at once, and keeps keys apart', async () => {
    const { batcher, started } = controlledReads(100);
    const first = batcher.read(1);
    started[0]!.finish('A');
    await expect(first).resolves.toBe('A:1');
    const big = batcher.read(100);
    expect(started.map((s) => s.reqs)).toEqual([[1], [100]]);
    await vi.advanceTimersByTimeAsync(100);
    const later = batcher.read(2);
    expect(started.map((s) => s.reqs)).toEqual([[1], [100], [2]]);
    started[1]!.finish('Big');
    started[2]!.finish('C');
    await expect(big).resolves.toBe('Big:100');
    await expect(later).resolves.toBe('C:2');
    expect(batcher.reads).toBe(3);
  });
});
