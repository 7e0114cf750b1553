import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { AppDeps } from '../../server/app';
import { BACKENDS, type Backend } from './backends';

/** The Redis server tests use (the system one); each run keeps to its own stream and key prefix. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Connect to a Redis for a test, failing with a clear message when it is not there. */
export async function connectTestRedis(url = TEST_REDIS_URL): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new Error(`Redis is not reachable at ${url} (${(err as Error).message}). Start it or set TEST_REDIS_URL.`);
  }
  return redis;
}

/** Remove every key under `prefix` (SCAN + UNLINK), never anything else. */
export async function unlinkPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let removed = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length) removed += await redis.unlink(...keys);
  } while (cursor !== '0');
  return removed;
}

export interface AdapterRun {
  /** Dependencies that select the adapter (nothing for in-memory). */
  deps: Pick<AppDeps, 'redis' | 'redisStream'>;
  dispose(): Promise<void>;
}

export interface Adapter {
  name: 'memory' | 'redis';
  open(): Promise<AdapterRun>;
}

export const memory: Adapter = {
  name: 'memory',
  open: () => Promise.resolve({ deps: {}, dispose: () => Promise.resolve() }),
};

/** Socket.IO's Redis Streams adapter on the system Redis, with a stream of its own per run. */
export const redisStreams: Adapter = {
  name: 'redis',
  async open() {
    const redis = await connectTestRedis();
    const stream = `dd-test:${process.pid}:${randomBytes(4).toString('hex')}`;
    return {
      deps: { redis, redisStream: stream },
      async dispose() {
        await unlinkPrefix(redis, stream);
        redis.disconnect();
      },
    };
  },
};

/** The realtime and resilience suites run through each adapter. */
export const ADAPTERS: Adapter[] = [memory, redisStreams];

/** Every database with every adapter: the realtime and resilience suites run on each pair. */
export const SUITE_MATRIX: { name: string; backend: Backend; adapter: Adapter }[] = BACKENDS.flatMap((backend) =>
  ADAPTERS.map((adapter) => ({ name: `${backend.name} + ${adapter.name}`, backend, adapter })),
);
