import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '../errors';

/**
 * Token-bucket style limits per key (rate-limiter-flexible: maintained, with the same API over
 * memory and Redis, so a cluster can share counters by swapping the store).
 */
export function createRateLimit(points: number, durationSec: number) {
  const limiter = new RateLimiterMemory({ points, duration: durationSec });
  return async (key: string): Promise<void> => {
    try {
      await limiter.consume(key);
    } catch (err) {
      if (err instanceof RateLimiterRes) {
        throw new AppError('rate_limited', 'Too many requests; slow down', { retryAfterMs: err.msBeforeNext });
      }
      throw err;
    }
  };
}
export type RateLimit = ReturnType<typeof createRateLimit>;
