import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { AppError } from '../errors';

/**
 * Fixed-window limits per key (rate-limiter-flexible: maintained, one API over memory and Redis).
 * With Redis every process counts against the same budget, so a key gets its rate once across
 * the cluster, not once per process.
 */
export function createRateLimit(name: string, points: number, durationSec: number, redis?: Redis, redisPrefix = 'dd:rl') {
  const limiter: RateLimiterAbstract = redis
    ? new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: `${redisPrefix}:${name}`,
        points,
        duration: durationSec,
        // While Redis is down or refusing writes, count in this process instead of refusing service.
        insuranceLimiter: new RateLimiterMemory({ keyPrefix: name, points, duration: durationSec }),
      })
    : new RateLimiterMemory({ keyPrefix: name, points, duration: durationSec });
  return async (key: string): Promise<void> => {
    try {
      await limiter.consume(key);
    } catch (err) {
      if (err instanceof RateLimiterRes) {
        throw new AppError('rate_limited', 'Too many requests; slow down', { retryAfterMs: err.msBeforeNext });
      }
      throw new AppError('unavailable', 'Rate limiting is unavailable; try again shortly');
    }
  };
}
export type RateLimit = ReturnType<typeof createRateLimit>;
