import { Redis } from 'ioredis';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApplication, type Application } from '../../server/app';
import { hashPassword } from '../../server/auth/password';
import type { Database } from '../../server/db/database';
import { seedDemo } from '../../server/demo/seed';
import { createLogger } from '../../server/logger';
import { postgres } from '../support/backends';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PASSWORD = 'cluster-pass';

/** Sessions end, and users change, on every node of a cluster within seconds. */
describe('sessions across two nodes sharing PostgreSQL and Redis', () => {
  let dispose: () => Promise<void>;
  let db: Database;
  let redis: Redis;
  const nodes: { app: Application; url: string }[] = [];
  const stream = `dd-test-sessions-${process.pid}-${Date.now()}`;
  const sockets: Socket[] = [];

  const json = async <T>(url: string, method: 'GET' | 'POST', opts: { bearer?: string; body?: unknown } = {}) => {
    const res = await fetch(url, {
      method,
      headers: { ...(opts.bearer ? { authorization: `Bearer ${opts.bearer}` } : {}), ...(opts.body ? { 'content-type': 'application/json' } : {}) },
      ...(opts.body ? { body: JSON.stringify(opts.body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
  const token = async (node: number, email: string) =>
    (await json<{ token: string }>(`${nodes[node]!.url}/api/auth/token`, 'POST', { body: { email, password: PASSWORD } })).body.token;
  const connect = (node: number, t: string) =>
    new Promise<Socket>((resolve, reject) => {
      const s = io(`${nodes[node]!.url}/dispatch`, { transports: ['websocket'], auth: { token: t }, reconnection: false, forceNew: true });
      sockets.push(s);
      s.once('connect', () => resolve(s));
      s.once('connect_error', reject);
    });
  const disconnected = (s: Socket, ms = 3000) =>
    new Promise<number>((resolve, reject) => {
      const start = Date.now();
      const timer = setTimeout(() => reject(new Error(`still connected after ${ms} ms`)), ms);
      s.once('disconnect', () => {
        clearTimeout(timer);
        resolve(Date.now() - start);
      });
    });
  /** Poll until `check` holds (the other node hears through Redis), at most `ms`. */
  async function eventually(check: () => Promise<boolean>, ms = 3000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > end) throw new Error('condition not met in time');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  beforeAll(async () => {
    const opened = await postgres.open();
    dispose = opened.dispose;
    db = opened.db;
    await seedDemo(db.prisma, { password: PASSWORD, deliveries: 3, ridersPerCenter: 1 });
    redis = new Redis(REDIS_URL, { lazyConnect: true });
    await redis.connect().catch((err: Error) => {
      throw new Error(`Redis is not reachable at ${REDIS_URL} (${err.message}). Start it or set TEST_REDIS_URL.`);
    });
    for (let i = 0; i < 2; i++) {
      const app = createApplication({
        db: db.prisma,
        logger: createLogger('silent'),
        sessionSecret: 'cluster-session-secret-0123456789abcdef',
        snapshotIntervalMs: 0,
        redis,
        redisStream: stream,
      });
      nodes.push({ app, url: `http://127.0.0.1:${await app.listen(0, '127.0.0.1')}` });
    }
  });

  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const { app } of nodes) await app.close();
    const keys = [...(await redis.keys(`${stream}*`))];
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await dispose?.();
  });

  it('signing out on one node disconnects the session’s sockets on the other and the token is refused there', async () => {
    const t = await token(0, 'dispatcher@demo.local');
    const s = await connect(1, t);
    expect((await json(`${nodes[1]!.url}/api/auth/me`, 'GET', { bearer: t })).status).toBe(200);
    const gone = disconnected(s);
    expect((await json(`${nodes[0]!.url}/api/auth/logout`, 'POST', { bearer: t, body: {} })).status).toBe(200);
    expect(await gone).toBeLessThan(3000);
    await eventually(async () => (await json(`${nodes[1]!.url}/api/auth/me`, 'GET', { bearer: t })).status === 401);
    await expect(connect(1, t)).rejects.toThrow('unauthorized');
  });

  it('a membership change made on one node re-authorizes the user’s sockets on the other', async () => {
    const u = await db.prisma.user.create({
      data: { email: `moved-${process.pid}@test.local`, name: 'Moved', role: 'dispatcher', passwordHash: await hashPassword(PASSWORD), memberships: { create: [{ centerId: 1 }] } },
    });
    const t = await token(0, u.email);
    const admin = await token(0, 'admin@demo.local');
    const s = await connect(1, t);
    const joined = (await s.timeout(5000).emitWithAck('center:join', { centerId: 1 })) as { data?: unknown };
    expect(joined.data).toEqual({ centerId: 1 });
    const gone = disconnected(s);
    expect((await json(`${nodes[0]!.url}/api/admin/users/${u.id}/centers`, 'POST', { bearer: admin, body: { centerIds: [2] } })).status).toBe(200);
    await gone;
    const again = await connect(1, t);
    const refused = (await again.timeout(5000).emitWithAck('center:join', { centerId: 1 })) as { error?: { code: string } };
    expect(refused.error?.code).toBe('not_found');
  });
});
