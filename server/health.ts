import type { Redis } from 'ioredis';
import type { Db } from './db/database';
import type { Logger } from './logger';

/** GET /api/health: `ok`, or `degraded` with the reasons (see README, "Health"). */
export interface HealthReport {
  status: 'ok' | 'degraded';
  reasons: string[];
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    timer.unref();
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });

/** First line of an error message (Redis replies carry the code first: NOREPLICAS, MISCONF...). */
const short = (err: unknown): string => (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 200);

export interface RedisWatchOptions {
  redis: Redis;
  /** Key this node writes to prove Redis accepts writes. */
  probeKey: string;
  logger: Logger;
  everyMs?: number;
  timeoutMs?: number;
}

/**
 * Watches whether Redis accepts this node's writes (a tiny SET with an expiry every few seconds,
 * plus the client's connection events). Says so once when it stops (a Redis restart, or writes
 * refused as with `stop-writes-on-bgsave-error`) and once when it is back: never a log line per
 * failed operation.
 */
export function createRedisWatch(opts: RedisWatchOptions) {
  const timeoutMs = opts.timeoutMs ?? 1500;
  let problem: string | null = null;
  let timer: NodeJS.Timeout | undefined;

  function report(next: string | null) {
    if (next === null && problem !== null) opts.logger.info({ was: problem }, 'redis is back: cross-node delivery, shared limits and job leases resume');
    if (next !== null && problem === null) {
      opts.logger.warn({ reason: next }, 'redis unavailable: serving this node only (local emits, REST, commands) until it returns');
    }
    problem = next;
  }

  async function probe(): Promise<string | null> {
    try {
      await withTimeout(opts.redis.set(opts.probeKey, String(Date.now()), 'PX', 30_000), timeoutMs, 'redis');
      report(null);
    } catch (err) {
      report(`redis: ${short(err)}`);
    }
    return problem;
  }

  const onClose = () => report(problem ?? 'redis: connection lost');
  return {
    probe,
    problem: () => problem,
    start() {
      if (timer) return;
      opts.redis.on('close', onClose);
      timer = setInterval(() => void probe(), opts.everyMs ?? 5000);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      opts.redis.off('close', onClose);
    },
  };
}
export type RedisWatch = ReturnType<typeof createRedisWatch>;

/** The health answer: the database must answer a query, Redis (when configured) must take a write. */
export function createHealth(deps: { db: Db; redisWatch?: RedisWatch; dbTimeoutMs?: number }) {
  return async (): Promise<HealthReport & { databaseOk: boolean }> => {
    const reasons: string[] = [];
    let databaseOk = true;
    const [db, redis] = await Promise.allSettled([
      withTimeout(deps.db.$queryRaw`SELECT 1`, deps.dbTimeoutMs ?? 2000, 'database'),
      deps.redisWatch ? deps.redisWatch.probe() : Promise.resolve(null),
    ]);
    if (db.status === 'rejected') {
      databaseOk = false;
      reasons.push(`database: ${short(db.reason)}`);
    }
    if (redis.status === 'fulfilled' && redis.value) reasons.push(redis.value);
    return { status: reasons.length ? 'degraded' : 'ok', reasons, databaseOk };
  };
}
