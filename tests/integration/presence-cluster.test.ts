import type { Redis } from 'ioredis';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ack, PresenceChange, PresenceList } from '../../protocol';
import { createApplication, type Application } from '../../server/app';
import { seedDemo } from '../../server/demo/seed';
import { createLogger } from '../../server/logger';
import { connectRedis } from '../../server/redis';
import { postgres } from '../support/backends';
import { startPrivateRedis } from '../support/ops';

const SECRET = 'presence-cluster-secret-0123456789ab';
const PREFIX = `ddpres${process.pid}`;
const SILENT_AFTER_MS = 1500;

/**
 * Silent riders across nodes: the node that holds a rider's connection notices that it went
 * silent and tells every board, wherever the dispatcher is connected. Two nodes on one
 * PostgreSQL database and one private Redis (presence in Redis, events through the adapter).
 */
describe('silent riders across a cluster', () => {
  let dispose: () => Promise<void>;
  let redisServer: Awaited<ReturnType<typeof startPrivateRedis>>;
  const clients: Redis[] = [];
  const nodes: { app: Application; url: string }[] = [];
  const sockets: Socket[] = [];

  const connect = (url: string, token: string) => {
    const s = io(`${url}/dispatch`, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
    sockets.push(s);
    return new Promise<Socket>((resolve, reject) => {
      s.once('connect', () => resolve(s));
      s.once('connect_error', reject);
    });
  };
  const token = async (email: string) => {
    const res = await fetch(`${nodes[0]!.url}/api/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: 'x' }) });
    return ((await res.json()) as { token: string }).token;
  };
  const ask = async <T>(s: Socket, event: string, payload: unknown): Promise<T> => {
    const res = (await s.timeout(5000).emitWithAck(event, payload)) as Ack<T>;
    if ('error' in res) throw new Error(`${event}: ${res.error.code} ${res.error.message}`);
    return res.data;
  };
  const waitFor = (s: Socket, pred: (c: PresenceChange) => boolean, ms: number) =>
    new Promise<PresenceChange>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching presence:changed within ${ms} ms`)), ms);
      const on = (c: PresenceChange) => {
        if (!pred(c)) return;
        clearTimeout(timer);
        s.off('presence:changed', on);
        resolve(c);
      };
      s.on('presence:changed', on);
    });

  beforeAll(async () => {
    const opened = await postgres.open();
    dispose = opened.dispose;
    await seedDemo(opened.db.prisma, { password: 'x', deliveries: 3, ridersPerCenter: 2 });
    redisServer = await startPrivateRedis();
    for (let i = 0; i < 2; i++) {
      const redis = await connectRedis(redisServer.url);
      clients.push(redis);
      const app = createApplication({
        db: opened.db.prisma,
        logger: createLogger('silent'),
        sessionSecret: SECRET,
        snapshotIntervalMs: 0,
        redis,
        redisStream: `${PREFIX}:events`,
        redisPrefix: PREFIX,
        nodeId: `presence-node-${i}`,
        ops: { reportIntervalMs: 300, presenceTtlMs: 3000, presenceSilentAfterMs: SILENT_AFTER_MS },
      });
      nodes.push({ app, url: `http://127.0.0.1:${await app.listen(0, '127.0.0.1')}` });
    }
  });

  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    for (const { app } of nodes) await app.close();
    for (const c of clients) c.disconnect();
    await redisServer?.stop();
    await dispose?.();
  });

  it('shows a dispatcher on one node that a rider on the other went silent, once, and that it came back', async () => {
    const dispatcher = await connect(nodes[0]!.url, await token('dispatcher@demo.local'));
    await ask(dispatcher, 'center:join', { centerId: 1 });
    const changes: PresenceChange[] = [];
    dispatcher.on('presence:changed', (c: PresenceChange) => changes.push(c));

    const rider = await connect(nodes[1]!.url, await token('rider@demo.local'));
    const riderId = rider.id!;
    const silent = await waitFor(dispatcher, (c) => 'entry' in c && c.entry.connId === riderId && c.entry.silent, 8000);
    expect('entry' in silent && silent.entry.nodeId).toBe('presence-node-1');
    // The list, read from Redis on the dispatcher's node, agrees.
    const listed = await ask<PresenceList>(dispatcher, 'presence:list', { centerId: 1 });
    expect(listed.entries.find((e) => e.connId === riderId)).toMatchObject({ silent: true, nodeId: 'presence-node-1' });

    // Announced once while it stays silent (several report intervals).
    await new Promise((r) => setTimeout(r, 1500));
    expect(changes.filter((c) => 'entry' in c && c.entry.connId === riderId && c.entry.silent)).toHaveLength(1);

    const back = waitFor(dispatcher, (c) => 'entry' in c && c.entry.connId === riderId && !c.entry.silent, 5000);
    await ask(rider, 'rider:position', { lat: 37.5, lng: 127.0 });
    const entry = await back;
    expect('entry' in entry && entry.entry.lastLocationAt).not.toBeNull();
  });
});
