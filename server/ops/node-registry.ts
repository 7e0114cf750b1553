import type { Redis } from 'ioredis';
import { nodeSample, type AlertRecord, type NodeSample, type NodeStats } from '../../protocol';

/** Samples kept per node for the monitor's charts: 15 minutes at the report interval. */
export const HISTORY_MS = 15 * 60_000;


/**
 * The cluster's shared operational state: each node's last stats record and recent samples, the
 * evaluator lease (exactly one node evaluates alerts) and the active alerts every node shows.
 * In memory for one process; in Redis for many (a hash per node with a TTL, a sorted set of node
 * ids scored by last report, a capped list of samples per node, a lease key, an alerts hash).
 */
export interface NodeRegistry {
  report(stats: NodeStats, historyPoints: number): Promise<void>;
  /** Every known node with its last record (the sorted set, then one HGET per node). */
  nodes(): Promise<NodeStats[]>;
  history(): Promise<{ nodeId: string; samples: NodeSample[] }[]>;
  /** A node leaving on purpose (graceful stop) or forgotten after a long silence. */
  remove(nodeId: string): Promise<void>;
  /** Take or keep the evaluator lease for ttlMs; true when this node holds it. */
  lease(nodeId: string, ttlMs: number): Promise<boolean>;
  release(nodeId: string): Promise<void>;
  setActiveAlerts(alerts: AlertRecord[]): Promise<void>;
  activeAlerts(): Promise<AlertRecord[]>;
}

export function createMemoryNodeRegistry(now: () => number = Date.now): NodeRegistry {
  const nodes = new Map<string, NodeStats>();
  const hist = new Map<string, NodeSample[]>();
  let lease: { holder: string; until: number } | null = null;
  let alerts: AlertRecord[] = [];
  return {
    report(stats, points) {
      nodes.set(stats.nodeId, stats);
      const list = hist.get(stats.nodeId) ?? [];
      list.push(nodeSample(stats));
      if (list.length > points) list.splice(0, list.length - points);
      hist.set(stats.nodeId, list);
      return Promise.resolve();
    },
    nodes() {
      return Promise.resolve([...nodes.values()]);
    },
    history() {
      return Promise.resolve([...hist.entries()].map(([nodeId, samples]) => ({ nodeId, samples: [...samples] })));
    },
    remove(nodeId) {
      nodes.delete(nodeId);
      hist.delete(nodeId);
      return Promise.resolve();
    },
    lease(nodeId, ttlMs) {
      const t = now();
      if (!lease || lease.until <= t || lease.holder === nodeId) {
        lease = { holder: nodeId, until: t + ttlMs };
        return Promise.resolve(true);
      }
      return Promise.resolve(false);
    },
    release(nodeId) {
      if (lease?.holder === nodeId) lease = null;
      return Promise.resolve();
    },
    setActiveAlerts(list) {
      alerts = list;
      return Promise.resolve();
    },
    activeAlerts() {
      return Promise.resolve(alerts);
    },
  };
}

/** Take the lease if free, keep it if ours: one atomic step. */
const LEASE_LUA = `
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;
const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export function createRedisNodeRegistry(redis: Redis, prefix: string, recordTtlMs = HISTORY_MS): NodeRegistry {
  const setKey = `${prefix}:nodes`;
  const nodeKey = (id: string) => `${prefix}:node:${id}`;
  const histKey = (id: string) => `${prefix}:node:${id}:hist`;
  const leaseKey = `${prefix}:ops:lease`;
  const alertsKey = `${prefix}:alerts:active`;
  const parse = <T>(raw: string | null | undefined): T | null => {
    if (!raw) return null;
    try {
      return JSON.parse(raw) as T;
    } catch {
      return null;
    }
  };
  return {
    async report(stats, points) {
      const sample = JSON.stringify(nodeSample(stats));
      await redis
        .multi()
        .hset(nodeKey(stats.nodeId), 'stats', JSON.stringify(stats))
        .pexpire(nodeKey(stats.nodeId), recordTtlMs)
        .zadd(setKey, Date.parse(stats.reportedAt), stats.nodeId)
        .rpush(histKey(stats.nodeId), sample)
        .ltrim(histKey(stats.nodeId), -points, -1)
        .pexpire(histKey(stats.nodeId), recordTtlMs)
        .exec();
    },
    async nodes() {
      const ids = await redis.zrange(setKey, 0, -1);
      if (ids.length === 0) return [];
      const p = redis.pipeline();
      for (const id of ids) p.hget(nodeKey(id), 'stats');
      const res = (await p.exec()) ?? [];
      const out: NodeStats[] = [];
      const gone: string[] = [];
      res.forEach(([, raw], i) => {
        const s = parse<NodeStats>(raw as string | null);
        if (s) out.push(s);
        else gone.push(ids[i]!);
      });
      // A record expired (its node silent for the whole retention): drop it from the set too.
      if (gone.length) await redis.zrem(setKey, ...gone);
      return out;
    },
    async history() {
      const ids = await redis.zrange(setKey, 0, -1);
      if (ids.length === 0) return [];
      const p = redis.pipeline();
      for (const id of ids) p.lrange(histKey(id), 0, -1);
      const res = (await p.exec()) ?? [];
      return ids.map((nodeId, i) => ({
        nodeId,
        samples: ((res[i]?.[1] as string[] | undefined) ?? []).flatMap((raw) => {
          const s = parse<NodeSample>(raw);
          return s ? [s] : [];
        }),
      }));
    },
    async remove(nodeId) {
      await redis.multi().zrem(setKey, nodeId).del(nodeKey(nodeId), histKey(nodeId)).exec();
    },
    async lease(nodeId, ttlMs) {
      return (await redis.eval(LEASE_LUA, 1, leaseKey, nodeId, String(ttlMs))) === 1;
    },
    async release(nodeId) {
      await redis.eval(RELEASE_LUA, 1, leaseKey, nodeId);
    },
    async setActiveAlerts(list) {
      await redis.set(alertsKey, JSON.stringify(list), 'PX', HISTORY_MS);
    },
    async activeAlerts() {
      return parse<AlertRecord[]>(await redis.get(alertsKey)) ?? [];
    },
  };
}
