import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryRow } from '../../protocol';
import { createApplication, type Application } from '../../server/app';
import type { Database } from '../../server/db/database';
import { seedDemo } from '../../server/demo/seed';
import { createLogger } from '../../server/logger';
import { redisStreams, type AdapterRun } from '../support/adapters';
import { postgres } from '../support/backends';
import { freePort, tcpProxy } from '../support/faults';

/**
 * Connection state recovery across processes (workers or machines) through the Redis Streams
 * adapter: a client's transport dies, the balancer (here a TCP proxy re-pointed between the two)
 * sends the reconnect to the OTHER node, and the session is still recovered (`socket.recovered`),
 * with every event emitted meanwhile replayed.
 */
describe('connection state recovery on another node (Redis Streams adapter)', () => {
  let db: Database;
  let dispose: () => Promise<void>;
  let adapter: AdapterRun;
  const nodes: { app: Application; port: number }[] = [];
  let proxy: ReturnType<typeof tcpProxy>;
  let socket: Socket | undefined;

  beforeAll(async () => {
    ({ db, dispose } = await postgres.open());
    await seedDemo(db.prisma, { password: 'recovery-pass', deliveries: 10, ridersPerCenter: 2 });
    adapter = await redisStreams.open();
    for (let i = 0; i < 2; i++) {
      const app = createApplication({ db: db.prisma, logger: createLogger('silent'), sessionSecret: 'recovery-test-secret-0123456789abcdef', snapshotIntervalMs: 0, ...adapter.deps });
      nodes.push({ app, port: await app.listen(0, '127.0.0.1') });
    }
    proxy = tcpProxy(nodes[0]!.port, await freePort());
    await proxy.start();
  });

  afterAll(async () => {
    socket?.close();
    await proxy?.cut();
    for (const n of nodes) await n.app.close();
    await adapter?.dispose();
    await dispose?.();
  });

  it('recovers the session on the other node and replays what was missed', async () => {
    const url = `http://127.0.0.1:${proxy.port}`;
    const res = await fetch(`${url}/api/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'hq@demo.local', password: 'recovery-pass' }) });
    const { token } = (await res.json()) as { token: string };
    // The test reconnects the client itself, once node 0 has seen the transport die (below).
    const s = io(`${url}/dispatch`, { transports: ['websocket'], forceNew: true, auth: { token }, reconnection: false });
    socket = s;
    // The greeting comes through the Redis stream and carries the client's first offset: a client
    // whose transport dies before it has one cannot recover (it resyncs), so the test waits for it.
    const greeted = new Promise<void>((resolve) => s.once('hello', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('connect_error', reject);
    });
    await s.timeout(5000).emitWithAck('center:join', { all: true });
    await greeted;
    const firstId = s.id;
    const onFirst = nodes[0]!.app.io.of('/dispatch').sockets.has(firstId!);
    expect(onFirst).toBe(true);

    const seen: DeliveryRow[] = [];
    s.on('delivery:created', (r: DeliveryRow) => seen.push(r));
    // The balancer now sends new connections to node 1; node 0 keeps running.
    proxy.retarget(nodes[1]!.port);
    const down = new Promise<void>((resolve) => s.once('disconnect', () => resolve()));
    s.io.engine.close(); // the transport dies without a DISCONNECT packet: the session is kept
    await down;

    const created: DeliveryRow[] = [];
    for (let i = 0; i < 3; i++) {
      created.push(
        await nodes[i % 2]!.app.services.deliveries.create(
          { centerId: 1, orderNo: `REC-${process.pid}-${Date.now().toString(36)}-${i}`, shopName: 'S', shopAddress: 'A', customerName: 'C', customerAddress: 'B', items: 'x', totalWon: 1, lat: 37.5, lng: 127 },
          { label: 'recovery-test' },
        ),
      );
    }
    expect(s.connected).toBe(false);
    // A session can be recovered once the node that held it has seen the transport die and stored
    // it; a client back before that gets a new session and resyncs (the second layer). On a busy
    // machine that can take longer than a reconnect delay, so wait for the stored session.
    const sessions = `${adapter.deps.redisStream!}:session:*`;
    const deadline = Date.now() + 10_000;
    while ((await adapter.deps.redis!.keys(sessions)).length === 0) {
      if (Date.now() > deadline) throw new Error('node 0 never stored the session');
      await new Promise((r) => setTimeout(r, 20));
    }
    const back = new Promise<void>((resolve) => s.once('connect', () => resolve()));
    s.connect();
    await back;
    expect(s.recovered).toBe(true);
    expect(s.id).toBe(firstId);
    expect(nodes[1]!.app.io.of('/dispatch').sockets.has(s.id!)).toBe(true); // now served by the other node
    await new Promise((r) => setTimeout(r, 300));
    expect(seen.map((r) => r.deliverySeq).sort()).toEqual(created.map((r) => r.deliverySeq).sort());
  });
});
