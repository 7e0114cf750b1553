import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { AppError } from '../errors';

/**
 * Fixed-window limits per key (rate-limiter-flexible: maintained, one API over memory and Redis).
 * With Redis every process counts against the same budget, so a key gets its rate once across
 * the cluster, not once per process.
 */
function createLimiter(name: string, points: number, durationSec: number, redis?: Redis, redisPrefix = 'dd:rl'): RateLimiterAbstract {
  return redis
    ? new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: `${redisPrefix}:${name}`,
        points,
        duration: durationSec,
        // While Redis is down or refusing writes, count in this process instead of refusing service.
        insuranceLimiter: new RateLimiterMemory({ keyPrefix: name, points, duration: durationSec }),
      })
    : new RateLimiterMemory({ keyPrefix: name, points, duration: durationSec });
}

const tooMany = (err: unknown): AppError =>
  err instanceof RateLimiterRes
    ? new AppError('rate_limited', 'Too many requests; slow down', { retryAfterMs: err.msBeforeNext })
    : new AppError('unavailable', 'Rate limiting is unavailable; try again shortly');

export function createRateLimit(name: string, points: number, durationSec: number, redis?: Redis, redisPrefix = 'dd:rl') {
  const limiter = createLimiter(name, points, durationSec, redis, redisPrefix);
  return async (key: string): Promise<void> => {
    try {
      await limiter.consume(key);
    } catch (err) {
      throw tooMany(err);
    }
  };
}
export type RateLimit = ReturnType<typeof createRateLimit>;

/**
 * A limit on failures only (sign-in: wrong passwords). `check` refuses a key that failed `points`
 * times within the window; `failed` counts one failure; `succeeded` forgets the key's failures.
 * So a user signing in on several devices is never held up, and guessing is.
 */
export function createFailureLimit(name: string, points: number, durationSec: number, redis?: Redis, redisPrefix = 'dd:rl') {
  const limiter = createLimiter(name, points, durationSec, redis, redisPrefix);
  return {
    async check(key: string): Promise<void> {
      let res: RateLimiterRes | null;
      try {
        res = await limiter.get(key);
      } catch (err) {
        throw tooMany(err);
      }
      if (res && res.consumedPoints >= points) throw tooMany(res);
    },
    async failed(key: string): Promise<void> {
      // Counted even when this failure is the one over the limit; the caller reports its own error.
      await limiter.consume(key).catch(() => undefined);
    },
    async succeeded(key: string): Promise<void> {
      await limiter.delete(key).catch(() => undefined);
    },
  };
}
export type FailureLimit = ReturnType<typeof createFailureLimit>;
