import type { Redis } from 'ioredis';
import type { Logger } from '../logger';

/**
 * Who runs the cluster's singleton work (snapshot broadcast, retention, the traffic simulator):
 * exactly one process at a time across workers and machines. Every process asks `isLeader()`
 * before a periodic run, and long-running work (the simulator) follows `onChange`.
 */
export interface Leadership {
  isLeader(): boolean;
  /** Told `true` when this process becomes the owner and `false` when it stops being it. */
  onChange(listener: (leader: boolean) => void): () => void;
  start(): void;
  /** Stop taking part; an owner hands the lease back so another process takes over at once. */
  stop(): Promise<void>;
}

function createState(logger: Logger, describe: string) {
  let leader = false;
  const listeners = new Set<(leader: boolean) => void>();
  return {
    get: () => leader,
    set(next: boolean) {
      if (next === leader) return;
      leader = next;
      logger.info({ leadership: describe }, next ? 'this process now runs the cluster jobs' : 'this process no longer runs the cluster jobs');
      for (const l of listeners) l(next);
    },
    onChange: (l: (leader: boolean) => void) => {
      listeners.add(l);
      return () => void listeners.delete(l);
    },
  };
}

/** One process alone (no cluster): it always runs the jobs. */
export function createSoleLeadership(): Leadership {
  let started = false;
  const listeners = new Set<(leader: boolean) => void>();
  return {
    isLeader: () => started,
    onChange(l) {
      listeners.add(l);
      return () => void listeners.delete(l);
    },
    start() {
      if (started) return;
      started = true;
      for (const l of listeners) l(true);
    },
    stop() {
      if (started) {
        started = false;
        for (const l of listeners) l(false);
      }
      return Promise.resolve();
    },
  };
}

/** Renew the lease only while we still hold it (owner check and expiry in one step). */
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
/** Release the lease only if it is ours. */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export interface RedisLeadershipOptions {
  redis: Redis;
  /** The lease key, one per deployment (e.g. `<stream>:leader`). */
  key: string;
  /** This process's identity, stored as the lease's value. */
  nodeId: string;
  /** The lease lasts this long without renewal: the longest a dead owner blocks a takeover. */
  ttlMs: number;
  logger: Logger;
}

/**
 * Many processes and machines: a lease in Redis (SET NX PX with the owner's id), renewed every
 * third of its life while held. A process that cannot renew for a whole lease steps down (another
 * may own it by now); candidates try to take a free lease at the same pace. A dead owner is
 * replaced within `ttlMs` plus one try.
 */
export function createRedisLeadership(opts: RedisLeadershipOptions): Leadership {
  const state = createState(opts.logger, 'redis lease');
  const every = Math.max(50, Math.floor(opts.ttlMs / 3));
  let timer: NodeJS.Timeout | undefined;
  let lastRenewed = 0;
  let busy = false;

  async function round() {
    if (busy) return;
    busy = true;
    try {
      if (state.get()) {
        const renewed = Number(await opts.redis.eval(RENEW, 1, opts.key, opts.nodeId, String(opts.ttlMs)));
        if (renewed === 1) lastRenewed = Date.now();
        else state.set(false); // the lease expired and someone else took it
      } else {
        const won = await opts.redis.set(opts.key, opts.nodeId, 'PX', opts.ttlMs, 'NX');
        if (won === 'OK') {
          lastRenewed = Date.now();
          state.set(true);
        }
      }
    } catch {
      // Redis is unreachable or refusing writes (reported once by the health monitor). Keep the
      // jobs while our lease may still be valid; after that another process may own them.
      if (state.get() && Date.now() - lastRenewed >= opts.ttlMs) state.set(false);
    } finally {
      busy = false;
    }
  }

  return {
    isLeader: () => state.get(),
    onChange: (l) => state.onChange(l),
    start() {
      if (timer) return;
      timer = setInterval(() => void round(), every);
      timer.unref();
      void round();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (!state.get()) return;
      state.set(false);
      await opts.redis.eval(RELEASE, 1, opts.key, opts.nodeId).catch(() => undefined);
    },
  };
}

/** Message a cluster primary sends a worker to hand it (or take back) the jobs. */
export interface LeaderMessage {
  type: 'dd:leader';
  leader: boolean;
}
export const isLeaderMessage = (m: unknown): m is LeaderMessage =>
  typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'dd:leader' && typeof (m as { leader?: unknown }).leader === 'boolean';

/**
 * Workers of one machine without Redis: the cluster primary decides which worker runs the jobs
 * (and hands them to another when it dies); this worker follows its messages.
 */
export function createPrimaryAssignedLeadership(logger: Logger): Leadership {
  const state = createState(logger, 'assigned by the cluster primary');
  const onMessage = (m: unknown) => {
    if (isLeaderMessage(m)) state.set(m.leader);
  };
  return {
    isLeader: () => state.get(),
    onChange: (l) => state.onChange(l),
    start() {
      process.on('message', onMessage);
    },
    stop() {
      process.off('message', onMessage);
      state.set(false);
      return Promise.resolve();
    },
  };
}
