import { Redis } from 'ioredis';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A connected client of the test Redis, or a clear error naming what to start. */
export async function connectTestRedis(url = TEST_REDIS_URL): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  await redis.connect().catch((err: Error) => {
    throw new Error(`Redis is not reachable at ${url} (${err.message}). Start it or set TEST_REDIS_URL.`);
  });
  return redis;
}

/** A key prefix no other run uses. */
export const uniquePrefix = (name: string) => `dd-test-${name}-${process.pid}-${Date.now().toString(36)}`;

/** Remove every key under a prefix (test cleanup only; the prefix is the test's own). */
export async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}
