import { describe, expect, it, vi } from 'vitest';
import {
  createActionQueue,
  createDrainer,
  drainQueue,
  isRetryable,
  newIdempotencyKey,
  parseQueue,
  type KeyValueStorage,
  type QueuedAction,
  type SendOutcome,
} from '../../app/lib/action-queue';

/** A send always crosses at least one await, as a network call does. */
const tick = () => Promise.resolve();

function memoryStorage(): KeyValueStorage & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => void data.set(k, v),
    removeItem: (k) => void data.delete(k),
  };
}

const KEY = 'dd.rider.actions.7';
const action = (n: number, kind: QueuedAction['kind'] = 'pick_up', deliverySeq = 100 + n) => ({
  idempotencyKey: `key-000000-${n}`,
  kind,
  deliverySeq,
  createdAt: 1_700_000_000_000 + n,
});

describe('action queue', () => {
  it('keeps actions in order, once per idempotency key', () => {
    const q = createActionQueue({ storageKey: KEY });
    q.enqueue(action(1));
    q.enqueue(action(2, 'deliver'));
    q.enqueue(action(1)); // a repeat of the same tap
    expect(q.list().map((a) => a.idempotencyKey)).toEqual(['key-000000-1', 'key-000000-2']);
    expect(q.size()).toBe(2);
    expect(q.list()[0]?.attempts).toBe(0);
  });

  it('persists every change and survives a reload (a new queue over the same storage)', () => {
    const storage = memoryStorage();
    const q = createActionQueue({ storage, storageKey: KEY });
    q.enqueue(action(1));
    q.enqueue(action(2, 'deliver'));
    q.markAttempt('key-000000-1');
    const again = createActionQueue({ storage, storageKey: KEY });
    expect(again.list()).toEqual([
      { ...action(1), attempts: 1 },
      { ...action(2, 'deliver'), attempts: 0 },
    ]);
    again.remove('key-000000-1');
    again.remove('key-000000-2');
    expect(storage.data.has(KEY)).toBe(false); // nothing left behind
  });

  it('drops malformed persisted data instead of failing', () => {
    expect(parseQueue('not json')).toEqual([]);
    expect(parseQueue('{"a":1}')).toEqual([]);
    const good = { ...action(1), attempts: 0 };
    const raw = JSON.stringify([good, { ...good }, { ...action(2), kind: 'teleport', attempts: 0 }, { ...action(3), deliverySeq: -1, attempts: 0 }, null, { ...action(4), idempotencyKey: 'bad key!', attempts: 0 }]);
    expect(parseQueue(raw)).toEqual([good]);
  });

  it('works in memory when the storage throws', () => {
    const broken: KeyValueStorage = {
      getItem: () => {
        throw new Error('blocked');
      },
      setItem: () => {
        throw new Error('quota');
      },
      removeItem: () => {
        throw new Error('blocked');
      },
    };
    const q = createActionQueue({ storage: broken, storageKey: KEY });
    q.enqueue(action(1));
    expect(q.size()).toBe(1);
    expect(q.remove('key-000000-1')).toBe(true);
  });

  it('tells subscribers about changes, and reload() re-reads what another tab wrote', () => {
    const storage = memoryStorage();
    const a = createActionQueue({ storage, storageKey: KEY });
    const b = createActionQueue({ storage, storageKey: KEY });
    const seen = vi.fn();
    const off = b.subscribe(seen);
    a.enqueue(action(1));
    expect(b.size()).toBe(0);
    b.reload();
    expect(b.size()).toBe(1);
    expect(seen).toHaveBeenCalledTimes(1);
    off();
    b.reload();
    expect(seen).toHaveBeenCalledTimes(1);
  });
});

describe('draining the queue', () => {
  it('sends in order and removes answered actions (accepted or refused)', async () => {
    const q = createActionQueue({ storageKey: KEY });
    q.enqueue(action(1));
    q.enqueue(action(2, 'deliver'));
    q.enqueue(action(3));
    const sent: string[] = [];
    const results: string[] = [];
    const out = await drainQueue<string>(
      q,
      async (a) => {
        await tick();
        sent.push(a.idempotencyKey);
        return a.deliverySeq === 102 ? { type: 'rejected', error: { code: 'invalid_transition', message: 'Cannot deliver' } } : { type: 'ok', row: `row-${a.deliverySeq}` };
      },
      { onResult: (a, o) => results.push(`${a.deliverySeq}:${o.type}`) },
    );
    expect(sent).toEqual(['key-000000-1', 'key-000000-2', 'key-000000-3']);
    expect(results).toEqual(['101:ok', '102:rejected', '103:ok']);
    expect(out).toEqual({ sent: 3, remaining: 0 });
  });

  it('stops at the first unreachable action and keeps it (same key) and the rest, in order', async () => {
    const storage = memoryStorage();
    const q = createActionQueue({ storage, storageKey: KEY });
    q.enqueue(action(1));
    q.enqueue(action(2, 'deliver'));
    q.enqueue(action(3));
    let calls = 0;
    const out = await drainQueue<string>(q, async (a) => {
      await tick();
      calls += 1;
      return a.deliverySeq === 101 ? { type: 'ok', row: 'r' } : { type: 'unreachable', reason: 'timeout' };
    });
    expect(calls).toBe(2);
    expect(out).toEqual({ sent: 1, remaining: 2 });
    expect(q.list().map((a) => [a.idempotencyKey, a.attempts])).toEqual([
      ['key-000000-2', 1],
      ['key-000000-3', 0],
    ]);
    // After a reload the retry uses the very same key.
    const reloaded = createActionQueue({ storage, storageKey: KEY });
    const keys: string[] = [];
    await drainQueue<string>(reloaded, async (a) => {
      await tick();
      keys.push(a.idempotencyKey);
      return { type: 'ok', row: 'r' };
    });
    expect(keys).toEqual(['key-000000-2', 'key-000000-3']);
    expect(reloaded.size()).toBe(0);
  });

  it('treats a throwing send and retryable server errors as unreachable', async () => {
    expect(isRetryable('unavailable')).toBe(true);
    expect(isRetryable('rate_limited')).toBe(true);
    expect(isRetryable('conflict')).toBe(false);
    const q = createActionQueue({ storageKey: KEY });
    q.enqueue(action(1));
    const outcomes: SendOutcome<string>['type'][] = [];
    await drainQueue<string>(
      q,
      async () => {
        await tick();
        return { type: 'rejected', error: { code: 'unavailable', message: 'db down' } };
      },
      { onResult: (_, o) => outcomes.push(o.type) },
    );
    await drainQueue<string>(q, async () => {
      await tick();
      throw new Error('socket closed');
    }, { onResult: (_, o) => outcomes.push(o.type) });
    expect(outcomes).toEqual(['unreachable', 'unreachable']);
    expect(q.list()[0]?.attempts).toBe(2);
  });

  it('sends nothing while it may not (socket down)', async () => {
    const q = createActionQueue({ storageKey: KEY });
    q.enqueue(action(1));
    const send = vi.fn(async (): Promise<SendOutcome<string>> => {
      await tick();
      return { type: 'ok', row: 'r' };
    });
    expect(await drainQueue(q, send, { canSend: () => false })).toEqual({ sent: 0, remaining: 1 });
    expect(send).not.toHaveBeenCalled();
  });

  it('the drainer never sends one action twice at once and picks up actions queued meanwhile', async () => {
    const q = createActionQueue({ storageKey: KEY });
    const sent: string[] = [];
    let release: (() => void) | null = null;
    const drain = createDrainer<string>(q, (a) => {
      sent.push(a.idempotencyKey);
      return new Promise((resolve) => {
        release = () => resolve({ type: 'ok', row: 'r' });
      });
    });
    q.enqueue(action(1));
    const first = drain();
    q.enqueue(action(2, 'deliver'));
    const second = drain(); // while the first send is unanswered
    expect(sent).toEqual(['key-000000-1']);
    for (let i = 0; i < 2; i += 1) {
      await vi.waitFor(() => expect(release).not.toBeNull());
      const r = release as (() => void) | null;
      release = null;
      r?.();
    }
    await Promise.all([first, second]);
    expect(sent).toEqual(['key-000000-1', 'key-000000-2']);
    expect(q.size()).toBe(0);
  });
});

describe('the drainer after no answer', () => {
  it('does not resend at once when called again while the unanswered send was out', async () => {
    const q = createActionQueue({ storageKey: KEY });
    q.enqueue(action(1));
    let calls = 0;
    let answer: ((o: SendOutcome<string>) => void) | null = null;
    const drain = createDrainer<string>(q, () => {
      calls += 1;
      return new Promise((resolve) => {
        answer = resolve;
      });
    });
    const run = drain();
    void drain(); // e.g. a retry tick while the first send waits for its ack
    await vi.waitFor(() => expect(answer).not.toBeNull());
    const a = answer as ((o: SendOutcome<string>) => void) | null;
    a?.({ type: 'unreachable', reason: 'ack timeout' });
    await run;
    expect(calls).toBe(1);
    expect(q.list()[0]?.attempts).toBe(1);
  });
});

describe('idempotency keys', () => {
  it('are unique and match the protocol’s key format', () => {
    const keys = new Set(Array.from({ length: 200 }, () => newIdempotencyKey()));
    expect(keys.size).toBe(200);
    for (const k of keys) expect(k).toMatch(/^[A-Za-z0-9_:.-]{8,100}$/);
  });
});
