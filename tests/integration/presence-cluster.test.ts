import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PresenceChange, PresenceList } from '../../protocol';
import type { Application } from '../../server/app';
import { seedDemo } from '../../server/demo/seed';
import { ask, data, nextEvent } from '../support/app';
import { postgres } from '../support/backends';
import { clusterUsers, startPrivateRedis, startRedisNodes } from '../support/ops';

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
  let inProcess: Awaited<ReturnType<typeof startRedisNodes>> | undefined;
  const nodes: { app: Application; url: string }[] = [];
  const { sockets, connect, token } = clusterUsers(() => nodes[0]!.url, 'x');

  beforeAll(async () => {
    const opened = await postgres.open();
    dispose = opened.dispose;
    await seedDemo(opened.db.prisma, { password: 'x', deliveries: 3, ridersPerCenter: 2 });
    redisServer = await startPrivateRedis();
    inProcess = await startRedisNodes({
      count: 2,
      db: opened.db.prisma,
      redisUrl: redisServer.url,
      prefix: PREFIX,
      secret: SECRET,
      nodeIdPrefix: 'presence-node',
      ops: { reportIntervalMs: 300, presenceTtlMs: 3000, presenceSilentAfterMs: SILENT_AFTER_MS },
    });
    nodes.push(...inProcess.nodes);
  });

  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await inProcess?.close();
    await redisServer?.stop();
    await dispose?.();
  });

  it('shows a dispatcher on one node that a rider on the other went silent, once, and that it came back', async () => {
    const dispatcher = await connect(nodes[0]!.url, '/dispatch', await token('dispatcher@demo.local'));
    data(await ask(dispatcher, 'center:join', { centerId: 1 }));
    const changes: PresenceChange[] = [];
    dispatcher.on('presence:changed', (c: PresenceChange) => changes.push(c));

    const rider = await connect(nodes[1]!.url, '/dispatch', await token('rider@demo.local'));
    const riderId = rider.id!;
    const silent = await nextEvent<PresenceChange>(dispatcher, 'presence:changed', (c) => 'entry' in c && c.entry.connId === riderId && c.entry.silent, 8000);
    expect('entry' in silent && silent.entry.nodeId).toBe('presence-node-1');
    // The list, read from Redis on the dispatcher's node, agrees.
    const listed = data(await ask<PresenceList>(dispatcher, 'presence:list', { centerId: 1 }));
    expect(listed.entries.find((e) => e.connId === riderId)).toMatchObject({ silent: true, nodeId: 'presence-node-1' });

    // Announced once while it stays silent (several report intervals).
    await new Promise((r) => setTimeout(r, 1500));
    expect(changes.filter((c) => 'entry' in c && c.entry.connId === riderId && c.entry.silent)).toHaveLength(1);

    const back = nextEvent<PresenceChange>(dispatcher, 'presence:changed', (c) => 'entry' in c && c.entry.connId === riderId && !c.entry.silent, 5000);
    data(await ask(rider, 'rider:position', { lat: 37.5, lng: 127.0 }));
    const entry = await back;
    expect('entry' in entry && entry.entry.lastLocationAt).not.toBeNull();
  });
});
