import { Redis } from 'ioredis';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryRow } from '../../protocol';
import { createApplication, type Application } from '../../server/app';
import { createApiKey } from '../../server/auth/apikeys';
import { seedDemo } from '../../server/demo/seed';
import { createLogger } from '../../server/logger';
import { postgres } from '../support/backends';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Two application processes (here: two apps) on one database and one Redis, as in a cluster. */
describe('two nodes sharing PostgreSQL and Redis', () => {
  let dispose: () => Promise<void>;
  let redis: Redis;
  const apps: { app: Application; url: string }[] = [];
  let key: string;
  const stream = `dd-test-${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    const opened = await postgres.open();
    dispose = opened.dispose;
    await seedDemo(opened.db.prisma, { password: 'x', deliveries: 3, ridersPerCenter: 1 });
    redis = new Redis(REDIS_URL, { lazyConnect: true });
    await redis.connect().catch((err: Error) => {
      throw new Error(`Redis is not reachable at ${REDIS_URL} (${err.message}). Start it or set TEST_REDIS_URL.`);
    });
    for (let i = 0; i < 2; i++) {
      const app = createApplication({
        db: opened.db.prisma,
        logger: createLogger('silent'),
        sessionSecret: 'cluster-test-secret-0123456789abcdef',
        apiRatePerSecond: 3,
        snapshotIntervalMs: 0,
        redis,
        redisStream: stream,
      });
      apps.push({ app, url: `http://127.0.0.1:${await app.listen(0, '127.0.0.1')}` });
    }
    key = (await createApiKey(opened.db.prisma, `cluster-${process.pid}`)).key;
  });

  afterAll(async () => {
    for (const { app } of apps) await app.close();
    // Only this run's keys: its stream, sessions and rate-limit counters all start with its name.
    const keys = await redis.keys(`${stream}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await dispose?.();
  });

  it('delivers a change committed on one node to a client connected to the other', async () => {
    const tokenRes = await fetch(`${apps[0]!.url}/api/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'dispatcher@demo.local', password: 'x' }),
    });
    const { token } = (await tokenRes.json()) as { token: string };
    const socket = io(`${apps[1]!.url}/dispatch`, { transports: ['websocket'], auth: { token }, reconnection: false });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      const joined = (await socket.timeout(5000).emitWithAck('center:join', { centerId: 1 })) as { data?: unknown };
      expect(joined.data).toEqual({ centerId: 1 });
      const got = new Promise<DeliveryRow>((resolve) => socket.on('delivery:created', resolve));
      const row = await apps[0]!.app.services.deliveries.create(
        { centerId: 1, orderNo: `CL${Date.now()}`, shopName: 'S', shopAddress: 'A', customerName: 'C', customerAddress: 'B', items: 'x', totalWon: 1, lat: 37.5, lng: 127 },
        { label: 'test' },
      );
      expect(await got).toEqual(row);
    } finally {
      socket.close();
    }
  });

  it('counts one API key against one budget across nodes', async () => {
    const body = JSON.stringify({ namespace: '/dispatch', room: 'center:1', event: 'notice:posted', data: { title: 'cluster' } });
    const statuses = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        fetch(`${apps[i % 2]!.url}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body }).then((r) => r.status),
      ),
    );
    // 3 per second in all, whichever node answered; a per-process limit would let 6 through.
    expect(statuses.filter((s) => s === 202).length).toBeLessThanOrEqual(3);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(5);
  });
});
