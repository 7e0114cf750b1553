import type { Redis } from 'ioredis';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryRow } from '../../protocol';
import { createApplication, type Application } from '../../server/app';
import { openDatabase, type Database } from '../../server/db/database';
import { seedDemo } from '../../server/demo/seed';
import { connectRedis } from '../../server/redis';
import { postgres, TEST_PG_URL } from '../support/backends';
import { capturingLogger, freePort, privateRedis, tcpProxy } from '../support/faults';
import { waitFor } from '../support/sync-helpers';

/**
 * Faults a node must survive: Redis refusing writes (as with a failed bgsave under
 * stop-writes-on-bgsave-error; here min-replicas-to-write makes it answer NOREPLICAS), Redis
 * restarted, and the database unreachable. Each uses a private redis-server or a TCP proxy in
 * front of PostgreSQL that only this test cuts; the system services are never touched.
 */
const PASSWORD = 'faults-pass';
const SECRET = 'faults-test-secret-0123456789abcdef';

async function login(url: string): Promise<string> {
  const res = await fetch(`${url}/api/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'hq@demo.local', password: PASSWORD }) });
  if (res.status !== 200) throw new Error(`login: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

function connect(url: string, token: string, sockets: Socket[]): Promise<Socket> {
  const s = io(`${url}/dispatch`, { transports: ['websocket'], forceNew: true, auth: { token }, reconnectionDelay: 100, reconnectionDelayMax: 300 });
  sockets.push(s);
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

const health = async (url: string) => {
  const res = await fetch(`${url}/api/health`);
  return { status: res.status, body: (await res.json()) as { status: string; reasons: string[] } };
};

let made = 0;
/** A new waiting delivery in center 1, created through a node's service. */
async function waitingDelivery(app: Application): Promise<{ deliverySeq: number; version: number }> {
  made += 1;
  return app.services.deliveries.create(
    { centerId: 1, orderNo: `FAULT-${process.pid}-${Date.now().toString(36)}-${made}`, shopName: 'S', shopAddress: 'A', customerName: 'C', customerAddress: 'B', items: 'x', totalWon: 1, lat: 37.5, lng: 127 },
    { label: 'faults-test' },
  );
}

describe('Redis faults: two nodes on a private redis-server', () => {
  let dbDispose: () => Promise<void>;
  let db: Database;
  let r: ReturnType<typeof privateRedis>;
  const clients: Redis[] = [];
  const nodes: { app: Application; url: string }[] = [];
  const sockets: Socket[] = [];
  const { logger, lines } = capturingLogger();
  const DOWN = 'redis unavailable: serving this node only (local emits, REST, commands) until it returns';

  beforeAll(async () => {
    ({ db, dispose: dbDispose } = await postgres.open());
    await seedDemo(db.prisma, { password: PASSWORD, deliveries: 30, ridersPerCenter: 2 });
    r = privateRedis(await freePort());
    await r.start();
    for (let i = 0; i < 2; i++) {
      const client = await connectRedis(r.url);
      clients.push(client);
      const app = createApplication({ db: db.prisma, logger, sessionSecret: SECRET, snapshotIntervalMs: 0, redis: client, redisStream: 'faults' });
      nodes.push({ app, url: `http://127.0.0.1:${await app.listen(0, '127.0.0.1')}` });
    }
  });

  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const n of nodes) await n.app.close();
    for (const c of clients) c.disconnect();
    await r?.stop();
    await dbDispose?.();
  });

  it('keeps serving while Redis refuses writes, says so once, and recovers by itself', async () => {
    const token = await login(nodes[0]!.url);
    const local = await connect(nodes[0]!.url, token, sockets);
    expect(((await local.timeout(5000).emitWithAck('center:join', { all: true })) as { data?: unknown }).data).toBeDefined();
    expect(await health(nodes[0]!.url)).toEqual({ status: 200, body: { status: 'ok', reasons: [] } });

    const admin = await connectRedis(r.url);
    await admin.config('SET', 'min-replicas-to-write', '1'); // every write now answers NOREPLICAS
    try {
      const h = await health(nodes[0]!.url);
      expect(h.status).toBe(200);
      expect(h.body.status).toBe('degraded');
      expect(h.body.reasons.join(' ')).toMatch(/redis: NOREPLICAS/);

      // Commands, local emits and REST still work on the node the client is connected to.
      for (let i = 0; i < 3; i++) {
        const d = await waitingDelivery(nodes[0]!.app);
        const got = new Promise<DeliveryRow>((resolve) => local.on('delivery:cancelled', (row: DeliveryRow) => row.deliverySeq === d.deliverySeq && resolve(row)));
        const started = Date.now();
        const ack = (await local.timeout(5000).emitWithAck('delivery:cancel', { deliverySeq: d.deliverySeq, reason: 'redis down' })) as { data?: DeliveryRow; error?: unknown };
        expect(ack.error).toBeUndefined();
        expect((await got).version).toBe(d.version + 1);
        expect(Date.now() - started).toBeLessThan(3000);
      }
      expect(await login(nodes[0]!.url)).toBeTruthy(); // rate limits fall back to process memory
      await health(nodes[0]!.url);
      // Said once per node, not once per failed operation.
      const down = lines.filter((l) => l.msg === DOWN);
      expect(down.length).toBeGreaterThanOrEqual(1);
      expect(down.length).toBeLessThanOrEqual(nodes.length);
    } finally {
      await admin.config('SET', 'min-replicas-to-write', '0');
      admin.disconnect();
    }
    await waitFor(async () => (await health(nodes[0]!.url)).body.status === 'ok', 10_000, 'health ok again');
    expect(lines.some((l) => l.msg === 'redis is back: cross-node delivery, shared limits and job leases resume')).toBe(true);
    expect(lines.filter((l) => l.msg === DOWN).length).toBeLessThanOrEqual(nodes.length);
  });

  it('survives a Redis restart and delivers across nodes again once it is back', async () => {
    const token = await login(nodes[0]!.url);
    const remote = await connect(nodes[1]!.url, token, sockets);
    const local = await connect(nodes[0]!.url, token, sockets);
    for (const s of [remote, local]) await s.timeout(5000).emitWithAck('center:join', { all: true });

    await r.stop();
    await waitFor(async () => (await health(nodes[0]!.url)).body.status === 'degraded', 10_000, 'health degraded');
    const d = await waitingDelivery(nodes[0]!.app);
    const ack = (await local.timeout(8000).emitWithAck('delivery:cancel', { deliverySeq: d.deliverySeq, reason: 'redis restarting' })) as { data?: DeliveryRow; error?: unknown };
    expect(ack.error).toBeUndefined();

    await r.start();
    await waitFor(async () => (await health(nodes[0]!.url)).body.status === 'ok' && (await health(nodes[1]!.url)).body.status === 'ok', 15_000, 'health ok after restart');
    // Cross-node delivery resumes (the adapter's stream reader reconnects by itself).
    await waitFor(
      async () => {
        const e = await waitingDelivery(nodes[0]!.app);
        const got = new Promise<boolean>((resolve) => {
          const t = setTimeout(() => resolve(false), 1500);
          remote.on('delivery:cancelled', (row: DeliveryRow) => {
            if (row.deliverySeq === e.deliverySeq) {
              clearTimeout(t);
              resolve(true);
            }
          });
        });
        await nodes[0]!.app.services.deliveries.cancel(e.deliverySeq, 'after restart', { label: 'faults-test' });
        return got;
      },
      20_000,
      'an event from node 0 reaching a client of node 1',
    );
  });
});

describe('database unreachable behind a proxy this test cuts', () => {
  let dispose: () => Promise<void>;
  let direct: Database;
  let proxied: Database;
  let proxy: ReturnType<typeof tcpProxy>;
  let app: Application;
  let url: string;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    ({ db: direct, dispose } = await postgres.open());
    await seedDemo(direct.prisma, { password: PASSWORD, deliveries: 20, ridersPerCenter: 2 });
    const target = new URL(TEST_PG_URL);
    proxy = tcpProxy(Number(target.port || 5432), await freePort());
    await proxy.start();
    const name = (await direct.prisma.$queryRaw<{ d: string }[]>`SELECT current_database() AS d`)[0]!.d;
    const u = new URL(TEST_PG_URL);
    u.host = `127.0.0.1:${proxy.port}`;
    u.pathname = `/${name}`;
    proxied = await openDatabase({ databaseUrl: u.toString(), dataDir: '' });
    app = createApplication({ db: proxied.prisma, logger: capturingLogger().logger, sessionSecret: SECRET, snapshotIntervalMs: 0 });
    url = `http://127.0.0.1:${await app.listen(0, '127.0.0.1')}`;
  });

  afterAll(async () => {
    for (const s of sockets) s.close();
    await app?.close();
    await proxy?.cut();
    await proxied?.close().catch(() => undefined);
    await dispose?.();
  });

  it('answers commands with unavailable within seconds, writes nothing, reports 503, and recovers', async () => {
    const token = await login(url);
    const s = await connect(url, token, sockets);
    await s.timeout(5000).emitWithAck('center:join', { all: true });
    const d = await waitingDelivery(app);
    const eventsBefore = await direct.prisma.deliveryEvent.count({ where: { deliverySeq: d.deliverySeq } });

    await proxy.cut();
    const started = Date.now();
    const ack = (await s.timeout(20_000).emitWithAck('delivery:cancel', { deliverySeq: d.deliverySeq, reason: 'db down' })) as { error?: { code: string; message: string } };
    const tookMs = Date.now() - started;
    console.log(`command answered ${ack.error?.code} ${tookMs} ms after the database was cut`);
    expect(ack.error?.code).toBe('unavailable');
    expect(tookMs).toBeLessThan(8000);
    const h = await health(url);
    expect(h.status).toBe(503);
    expect(h.body.status).toBe('degraded');
    expect(h.body.reasons.join(' ')).toMatch(/^database: /);

    // Nothing half-written: the row and its timeline are as before.
    const after = await direct.prisma.delivery.findUniqueOrThrow({ where: { deliverySeq: d.deliverySeq } });
    expect(after.version).toBe(d.version);
    expect(after.status).toBe('waiting');
    expect(await direct.prisma.deliveryEvent.count({ where: { deliverySeq: d.deliverySeq } })).toBe(eventsBefore);

    await proxy.start();
    await waitFor(async () => (await health(url)).status === 200, 15_000, 'health 200 again');
    const retry = (await s.timeout(10_000).emitWithAck('delivery:cancel', { deliverySeq: d.deliverySeq, reason: 'db back' })) as { data?: DeliveryRow; error?: unknown };
    expect(retry.error).toBeUndefined();
    expect(retry.data?.version).toBe(d.version + 1);
  });
});
