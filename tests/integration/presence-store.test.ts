import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PresenceEntry } from '../../protocol';
import { createMemoryNodeRegistry, createRedisNodeRegistry, type NodeRegistry } from '../../server/ops/node-registry';
import { createMemoryPresenceStore, createRedisPresenceStore, frozenEntry, type PresenceStore } from '../../server/ops/presence.store';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../support/redis';

let redis: Redis;
const prefix = uniquePrefix('presence');
beforeAll(async () => {
  redis = await connectTestRedis();
});
afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

let n = 0;
function entry(over: Partial<PresenceEntry> = {}): PresenceEntry {
  n += 1;
  const at = new Date(1_800_000_000_000).toISOString();
  return {
    connId: `conn-${n}`,
    userId: n,
    name: `User ${n}`,
    role: 'rider',
    riderId: n,
    centerId: 1,
    nodeId: 'node-a',
    transport: 'websocket',
    appVersion: '1.0.0',
    battery: { level: 0.5, charging: false },
    duty: 'on',
    connectedAt: at,
    lastSeenAt: at,
    lastLocationAt: null,
    lastActivityAt: at,
    ...over,
  };
}

const stores: { name: string; make: (i: number) => PresenceStore }[] = [
  { name: 'memory', make: () => createMemoryPresenceStore() },
  { name: 'redis', make: (i) => createRedisPresenceStore(redis, `${prefix}:${i}`) },
];

/** One contract, both implementations. */
describe.each(stores)('presence store contract: $name', ({ make }) => {
  let i = 0;
  const T = 1_800_000_000_000;
  const fresh = () => make((i += 1));

  it('lists what was upserted, per center, until it expires', async () => {
    const s = fresh();
    const a = entry({ centerId: 1 });
    const b = entry({ centerId: 2 });
    await s.upsert(a, 1000, T);
    await s.upsert(b, 1000, T);
    expect(await s.list(1, T + 10)).toEqual([a]);
    expect(await s.list(2, T + 10)).toEqual([b]);
    expect(await s.list(1, T + 1000)).toEqual([]);
    expect(await s.centers()).toEqual([1, 2]);
  });

  it('replaces an entry on a second upsert (one connection, one entry)', async () => {
    const s = fresh();
    const a = entry();
    await s.upsert(a, 1000, T);
    const changed = { ...a, transport: 'polling' as const, battery: { level: 0.2, charging: true } };
    await s.upsert(changed, 1000, T + 100);
    expect(await s.list(1, T + 200)).toEqual([changed]);
  });

  it('touch extends live entries, never revives expired or removed ones', async () => {
    const s = fresh();
    const live = entry();
    const dead = entry();
    const removed = entry();
    await s.upsert(live, 1000, T);
    await s.upsert(dead, 100, T);
    await s.upsert(removed, 1000, T);
    await s.remove(1, removed.connId);
    await s.touch(1, [live.connId, dead.connId, removed.connId, 'never-seen'], 1000, T + 500);
    expect((await s.list(1, T + 1200)).map((e) => e.connId)).toEqual([live.connId]);
  });

  it('sweep removes expired entries and returns each exactly once', async () => {
    const s = fresh();
    const stays = entry();
    const goes = entry({ centerId: 3 });
    await s.upsert(stays, 10_000, T);
    await s.upsert(goes, 100, T);
    const [first, second] = await Promise.all([s.sweep(T + 200), s.sweep(T + 200)]);
    expect([...first, ...second]).toEqual([goes]);
    expect(await s.sweep(T + 300)).toEqual([]);
    expect((await s.list(1, T + 300)).map((e) => e.connId)).toEqual([stays.connId]);
  });

  it('remove takes one connection out of one center', async () => {
    const s = fresh();
    const a = entry();
    const b = entry();
    await s.upsert(a, 1000, T);
    await s.upsert(b, 1000, T);
    await s.remove(1, a.connId);
    expect(await s.list(1, T + 1)).toEqual([b]);
  });

  it("a caller's later changes to its own entry do not reach the store", async () => {
    const s = fresh();
    const a = entry();
    const before = structuredClone(a);
    await s.upsert(a, 1000, T);
    a.duty = 'off';
    a.battery!.level = 0.1;
    expect(await s.list(1, T + 1)).toEqual([before]);
  });
});

describe('memory presence store', () => {
  const T = 1_800_000_000_000;

  it('keeps an entry that is frozen all the way down as it is, and a frozen copy of any other', async () => {
    const s = createMemoryPresenceStore();
    const frozen = frozenEntry(entry());
    const open = entry();
    const halfFrozen = Object.freeze(entry());
    for (const e of [frozen, open, halfFrozen]) await s.upsert(e, 1000, T);
    const [keptFrozen, keptOpen, keptHalf] = await s.list(1, T + 1);
    expect(keptFrozen).toBe(frozen);
    expect(keptOpen).not.toBe(open);
    expect(keptOpen).toEqual(open);
    expect(Object.isFrozen(keptOpen) && Object.isFrozen(keptOpen!.battery)).toBe(true);
    // The battery of an entry frozen only at the top could still be changed by its owner.
    expect(keptHalf).not.toBe(halfFrozen);
    expect(Object.isFrozen(keptHalf!.battery)).toBe(true);
  });
});

const registries: { name: string; make: (i: number) => NodeRegistry }[] = [
  { name: 'memory', make: () => createMemoryNodeRegistry() },
  { name: 'redis', make: (i) => createRedisNodeRegistry(redis, `${prefix}:reg${i}`) },
];

describe.each(registries)('node registry contract: $name', ({ make }) => {
  let i = 0;
  it('keeps the last record and a capped history per node; a lease has one holder', async () => {
    const r = make((i += 1));
    const base = { host: 'h', pid: 1, startedAt: new Date().toISOString(), uptimeSec: 1, cpuPct: 1, rssBytes: 1, heapUsedBytes: 1, lagP99Ms: 1, sockets: { '/dispatch': 2 }, eventsInPerSec: 0, eventsOutPerSec: 0, adapterLagMs: null, centers: {}, gauges: {} };
    for (let k = 0; k < 5; k++) await r.report({ ...base, nodeId: 'a', reportedAt: new Date(1_800_000_000_000 + k).toISOString() }, 3);
    await r.report({ ...base, nodeId: 'b', reportedAt: new Date().toISOString() }, 3);
    expect((await r.nodes()).map((x) => x.nodeId).sort()).toEqual(['a', 'b']);
    const hist = await r.history();
    expect(hist.find((h) => h.nodeId === 'a')!.samples.map((s) => s.t)).toEqual([1_800_000_000_002, 1_800_000_000_003, 1_800_000_000_004]);
    await r.remove('a');
    expect((await r.nodes()).map((x) => x.nodeId)).toEqual(['b']);

    expect(await r.lease('a', 5000)).toBe(true);
    expect(await r.lease('b', 5000)).toBe(false);
    expect(await r.lease('a', 5000)).toBe(true);
    await r.release('b');
    expect(await r.lease('b', 5000)).toBe(false);
    await r.release('a');
    expect(await r.lease('b', 5000)).toBe(true);
  });
});
