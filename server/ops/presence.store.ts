import type { Redis } from 'ioredis';
import type { PresenceEntry } from '../../protocol';

/**
 * Where presence lives: one entry per (center, connection), each with an expiry that the holding
 * node keeps pushing forward (TTL heartbeat). An entry whose node died stops being refreshed and
 * is gone within one TTL: hidden from `list` at once, removed (and reported) by `sweep`.
 * Two implementations with one contract (tests/integration/presence-store.test.ts): in memory for
 * one process, Redis native types (a hash and a sorted set scored by expiry per center, never
 * KEYS/SCAN) for a cluster.
 */
export interface PresenceStore {
  /** Insert or replace an entry and set its expiry to now + ttlMs. */
  upsert(entry: PresenceEntry, ttlMs: number, now?: number): Promise<void>;
  /** Push the expiry of existing entries of a center forward (entries already gone stay gone). */
  touch(centerId: number, connIds: readonly string[], ttlMs: number, now?: number): Promise<void>;
  remove(centerId: number, connId: string): Promise<void>;
  /** Unexpired entries of a center (read only: the memory store hands out its own frozen copies). */
  list(centerId: number, now?: number): Promise<readonly Readonly<PresenceEntry>[]>;
  /** Centers that have (or recently had) entries. */
  centers(): Promise<number[]>;
  /** Remove expired entries of every center and return them (each exactly once across callers; read only). */
  sweep(now?: number): Promise<readonly Readonly<PresenceEntry>[]>;
}

/**
 * A presence entry that nobody can change: the strings are shared with `e` (they are immutable),
 * the objects are copied and frozen. Presence builds its entries with this and replaces them on
 * change, so the memory store can keep the very object it is given instead of a copy of its own.
 */
export const frozenEntry = (e: Readonly<PresenceEntry>): PresenceEntry =>
  // Field by field, not `{ ...e }`: V8 gave each frozen spread copy a hidden class of its own
  // (about 450 bytes per entry); entries made from one literal share one.
  Object.freeze({
    connId: e.connId,
    userId: e.userId,
    name: e.name,
    role: e.role,
    riderId: e.riderId,
    centerId: e.centerId,
    nodeId: e.nodeId,
    transport: e.transport,
    appVersion: e.appVersion,
    battery: e.battery && Object.freeze({ level: e.battery.level, charging: e.battery.charging }),
    duty: e.duty,
    connectedAt: e.connectedAt,
    lastSeenAt: e.lastSeenAt,
    lastLocationAt: e.lastLocationAt,
    lastActivityAt: e.lastActivityAt,
  });

/**
 * What the memory store keeps: the entry itself when it is already frozen all the way down (no
 * later change by the caller can reach the store, and a reader cannot change it), else a frozen
 * copy. `list` hands these out without copying: the alert evaluator's sweep lists every center
 * every report interval, and a deep copy of each of tens of thousands of entries was most of an
 * idle server's JavaScript time (and its garbage).
 */
const kept = (e: PresenceEntry): PresenceEntry =>
  Object.isFrozen(e) && (e.battery === null || Object.isFrozen(e.battery)) ? e : frozenEntry(e);

export function createMemoryPresenceStore(): PresenceStore {
  const byCenter = new Map<number, Map<string, { entry: PresenceEntry; exp: number }>>();
  const center = (id: number) => {
    let m = byCenter.get(id);
    if (!m) byCenter.set(id, (m = new Map<string, { entry: PresenceEntry; exp: number }>()));
    return m;
  };
  /**
   * No entry expires before this (a lower bound, lowered by every write): the sweep runs every
   * report interval and, while expiries are pushed forward in time, finds nothing to remove
   * without walking every entry.
   */
  let nextExpiry = Number.POSITIVE_INFINITY;
  return {
    upsert(entry, ttlMs, now = Date.now()) {
      center(entry.centerId).set(entry.connId, { entry: kept(entry), exp: now + ttlMs });
      nextExpiry = Math.min(nextExpiry, now + ttlMs);
      return Promise.resolve();
    },
    touch(centerId, connIds, ttlMs, now = Date.now()) {
      const m = byCenter.get(centerId);
      for (const id of connIds) {
        const held = m?.get(id);
        if (held && held.exp > now) held.exp = now + ttlMs;
      }
      nextExpiry = Math.min(nextExpiry, now + ttlMs);
      return Promise.resolve();
    },
    remove(centerId, connId) {
      byCenter.get(centerId)?.delete(connId);
      return Promise.resolve();
    },
    list(centerId, now = Date.now()) {
      const out: PresenceEntry[] = [];
      for (const h of byCenter.get(centerId)?.values() ?? []) if (h.exp > now) out.push(h.entry);
      return Promise.resolve(out);
    },
    centers() {
      return Promise.resolve([...byCenter.keys()].sort((a, b) => a - b));
    },
    sweep(now = Date.now()) {
      const gone: PresenceEntry[] = [];
      if (now < nextExpiry) return Promise.resolve(gone);
      nextExpiry = Number.POSITIVE_INFINITY;
      for (const m of byCenter.values()) {
        for (const [id, h] of m) {
          if (h.exp <= now) {
            m.delete(id);
            gone.push(h.entry);
          } else nextExpiry = Math.min(nextExpiry, h.exp);
        }
      }
      return Promise.resolve(gone);
    },
  };
}

/** Atomically take up to 500 expired entries of one center: their values, then remove them. */
const SWEEP_LUA = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 500)
if #ids == 0 then return {} end
local vals = redis.call('HMGET', KEYS[1], unpack(ids))
redis.call('ZREM', KEYS[2], unpack(ids))
redis.call('HDEL', KEYS[1], unpack(ids))
return vals
`;

/** Move expiries forward only for entries that exist and have not expired yet. */
const TOUCH_LUA = `
for i = 3, #ARGV do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) > tonumber(ARGV[1]) and tonumber(s) < tonumber(ARGV[2]) then
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[i])
  end
end
return 0
`;

/**
 * Redis: per center a hash `<prefix>:presence:c:<id>` (connId -> entry JSON) and a sorted set
 * `<prefix>:presence:c:<id>:exp` (connId scored by expiry, ms), plus a set of center ids so the
 * sweep knows where to look. Both keys also carry a generous TTL so an abandoned center's keys
 * leave Redis on their own.
 */
export function createRedisPresenceStore(redis: Redis, prefix: string): PresenceStore {
  const hashKey = (c: number) => `${prefix}:presence:c:${c}`;
  const expKey = (c: number) => `${prefix}:presence:c:${c}:exp`;
  const centersKey = `${prefix}:presence:centers`;
  const keep = (ttlMs: number) => Math.max(ttlMs * 4, 60_000);
  const parse = (raw: string | null): PresenceEntry | null => {
    if (!raw) return null;
    try {
      return JSON.parse(raw) as PresenceEntry;
    } catch {
      return null;
    }
  };
  return {
    async upsert(entry, ttlMs, now = Date.now()) {
      const c = entry.centerId;
      await redis
        .multi()
        .hset(hashKey(c), entry.connId, JSON.stringify(entry))
        .zadd(expKey(c), now + ttlMs, entry.connId)
        .pexpire(hashKey(c), keep(ttlMs))
        .pexpire(expKey(c), keep(ttlMs))
        .sadd(centersKey, String(c))
        .exec();
    },
    async touch(centerId, connIds, ttlMs, now = Date.now()) {
      if (connIds.length === 0) return;
      const exp = now + ttlMs;
      const p = redis.pipeline();
      for (let i = 0; i < connIds.length; i += 1000) {
        p.eval(TOUCH_LUA, 1, expKey(centerId), String(now), String(exp), ...connIds.slice(i, i + 1000));
      }
      p.pexpire(hashKey(centerId), keep(ttlMs)).pexpire(expKey(centerId), keep(ttlMs)).sadd(centersKey, String(centerId));
      await p.exec();
    },
    async remove(centerId, connId) {
      await redis.multi().hdel(hashKey(centerId), connId).zrem(expKey(centerId), connId).exec();
    },
    async list(centerId, now = Date.now()) {
      const res = await redis.multi().zrangebyscore(expKey(centerId), `(${now}`, '+inf').hgetall(hashKey(centerId)).exec();
      const live = new Set((res?.[0]?.[1] as string[] | undefined) ?? []);
      const all = (res?.[1]?.[1] as Record<string, string> | undefined) ?? {};
      const out: PresenceEntry[] = [];
      for (const [id, raw] of Object.entries(all)) {
        if (!live.has(id)) continue;
        const e = parse(raw);
        if (e) out.push(e);
      }
      return out;
    },
    async centers() {
      return (await redis.smembers(centersKey)).map(Number).filter((n) => Number.isInteger(n)).sort((a, b) => a - b);
    },
    async sweep(now = Date.now()) {
      const gone: PresenceEntry[] = [];
      for (const c of await this.centers()) {
        for (;;) {
          const vals = (await redis.eval(SWEEP_LUA, 2, hashKey(c), expKey(c), String(now))) as (string | null)[];
          for (const v of vals) {
            const e = parse(v);
            if (e) gone.push(e);
          }
          if (vals.length < 500) break;
        }
        if ((await redis.zcard(expKey(c))) === 0) await redis.srem(centersKey, String(c));
      }
      return gone;
    },
  };
}
