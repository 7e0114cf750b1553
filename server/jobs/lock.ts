import type { Redis } from 'ioredis';

/**
 * "Exactly one run per period across all server processes." A period is identified by its
 * number (floor(now / interval)); the first process to claim it runs the job.
 */
export interface PeriodLock {
  claim(job: string, period: number, ttlMs: number): Promise<boolean>;
}

/** One process: every period is claimed once, by this process. */
export function createLocalLock(): PeriodLock {
  const last = new Map<string, number>();
  return {
    claim(job, period) {
      if ((last.get(job) ?? -1) >= period) return Promise.resolve(false);
      last.set(job, period);
      return Promise.resolve(true);
    },
  };
}

/** Many processes or machines: SET NX with an expiry on one key per job and period. */
export function createRedisLock(redis: Redis, nodeId: string, prefix = 'dd:lock'): PeriodLock {
  return {
    async claim(job, period, ttlMs) {
      const res = await redis.set(`${prefix}:${job}:${period}`, nodeId, 'PX', ttlMs, 'NX');
      return res === 'OK';
    },
  };
}
