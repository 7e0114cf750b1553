import type { Redis } from 'ioredis';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApplication, type Application } from '../../server/app';
import { seedDemo } from '../../server/demo/seed';
import { createLogger } from '../../server/logger';
import { connectRedis } from '../../server/redis';
import { postgres } from '../support/backends';
import { freePortsIn, startPrivateRedis, type PrivateRedis } from '../support/processes';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Redis dies while clients drop: with connection state recovery on, every dropped socket's
 * session is written to Redis. That write failing must not end the process (it did: an unhandled
 * rejection from the Redis Streams adapter), and the node must serve again once Redis is back.
 */
describe('Redis Streams adapter while Redis is down', () => {
  let dispose: () => Promise<void>;
  let redisServer: PrivateRedis;
  let redis: Redis;
  let app: Application;
  let url: string;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    const opened = await postgres.open();
    dispose = opened.dispose;
    await seedDemo(opened.db.prisma, { password: 'x', deliveries: 3, ridersPerCenter: 1 });
    const [port] = await freePortsIn(4200, 4299, 1);
    redisServer = await startPrivateRedis(port!);
    redis = await connectRedis(redisServer.url);
    app = createApplication({
      db: opened.db.prisma,
      logger: createLogger('silent'),
      sessionSecret: 'streams-adapter-secret-0123456789abcdef',
      snapshotIntervalMs: 0,
      redis,
      redisStream: `dd-test-${process.pid}`,
    });
    url = `http://127.0.0.1:${await app.listen(0, '127.0.0.1')}`;
    process.on('unhandledRejection', onUnhandled);
  });

  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await app?.close();
    redis?.disconnect();
    await redisServer?.stop();
    await dispose?.();
  });

  async function connected(token: string): Promise<Socket> {
    const socket = io(`${url}/dispatch`, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    return socket;
  }

  it('keeps serving when dropped sockets cannot store their sessions, and serves sockets again after Redis returns', async () => {
    const res = await fetch(`${url}/api/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'dispatcher@demo.local', password: 'x' }),
    });
    const { token } = (await res.json()) as { token: string };
    const sockets = await Promise.all(Array.from({ length: 5 }, () => connected(token)));

    await redisServer.kill();
    // Transports die without a goodbye: each is a recoverable disconnect, so its session is persisted.
    for (const s of sockets) s.io.engine.close();
    await sleep(3000); // ioredis gives up on each write after its retries

    expect(unhandled.map(String)).toEqual([]);
    const health = await fetch(`${url}/api/health`);
    expect(health.status).toBe(200); // the database answers; Redis trouble is reported, not fatal

    await redisServer.start();
    const deadline = Date.now() + 15_000;
    while (redis.status !== 'ready' && Date.now() < deadline) await sleep(100);
    const again = await connected(token);
    const joined = (await again.timeout(5000).emitWithAck('center:join', { centerId: 1 })) as { data?: unknown };
    expect(joined.data).toEqual({ centerId: 1 });
    again.close();
    expect(unhandled.map(String)).toEqual([]);
  });
});
