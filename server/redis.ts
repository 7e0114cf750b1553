import { Redis } from 'ioredis';
import { ConfigError } from './config';

/** Connect to Redis (ioredis: the maintained, cluster-aware client) and check it answers. */
export async function connectRedis(url: string): Promise<Redis> {
  // While Redis is away, reconnect at least every second and fail each command after two tries,
  // so a node's own emits and commands are held up for about a second, not for minutes.
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 2,
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(times * 100, 1000),
  });
  redis.on('error', () => undefined); // reconnects on its own; commands report failures
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    const u = new URL(url);
    throw new ConfigError('REDIS_URL', `cannot connect to ${u.protocol}//${u.host} (${(err as Error).message})`);
  }
  return redis;
}
