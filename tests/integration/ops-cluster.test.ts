import os from 'node:os';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ack, AlertRecord, MonitorOverview, PresenceChange, PresenceList } from '../../protocol';
import type { Application } from '../../server/app';
import { openDatabase, type Database } from '../../server/db/database';
import { seedDemo } from '../../server/demo/seed';
import { postgres, TEST_PG_URL } from '../support/backends';
import { clusterUsers, spawnNode, startPrivateRedis, startRedisNodes, startTcpProxy, startWebhookReceiver } from '../support/ops';

const SECRET = 'ops-cluster-secret-0123456789abcdef';
const HOOK_SECRET = 'webhook-secret-0123456789';
const PREFIX = `ddops${process.pid}`;
const OPS = { reportIntervalMs: 500, presenceTtlMs: 3000, presenceSilentAfterMs: 60_000, nodeDownMs: 3000, lagMs: 300, webhookSecret: HOOK_SECRET, webhookBaseDelayMs: 100 };

/**
 * A cluster of three nodes on one PostgreSQL database and one (private) Redis: two apps in this
 * process and one real server process that gets `kill -9`. The database sits behind a TCP proxy
 * the test can cut; the private Redis can be stopped and started again.
 */
describe('operations across a cluster', () => {
  let dispose: () => Promise<void>;
  let proxied: Database;
  let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
  let redisServer: Awaited<ReturnType<typeof startPrivateRedis>>;
  let hooks: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let inProcess: Awaited<ReturnType<typeof startRedisNodes>> | undefined;
  const nodes: { app: Application; url: string }[] = [];
  const { sockets, connect, token } = clusterUsers(() => nodes[0]!.url, 'x');
  let dbUrl: string;

  const ask = async <T>(s: Socket, event: string, payload: unknown): Promise<T> => {
    const res = (await s.timeout(5000).emitWithAck(event, payload)) as Ack<T>;
    if ('error' in res) throw new Error(`${event}: ${res.error.code} ${res.error.message}`);
    return res.data;
  };
  const until = async <T>(read: () => Promise<T> | T, ok: (v: T) => boolean, ms = 15_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await read();
      if (ok(v)) return v;
      if (Date.now() > end) throw new Error(`condition not met within ${ms} ms; last: ${JSON.stringify(v)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  beforeAll(async () => {
    const opened = await postgres.open();
    dispose = opened.dispose;
    await seedDemo(opened.db.prisma, { password: 'x', deliveries: 3, ridersPerCenter: 2 });
    proxy = await startTcpProxy(Number(new URL(TEST_PG_URL).port || 5432), new URL(TEST_PG_URL).hostname);
    const u = new URL(TEST_PG_URL);
    const name = (await opened.db.prisma.$queryRaw<{ db: string }[]>`SELECT current_database() AS db`)[0]!.db;
    u.hostname = '127.0.0.1';
    u.port = String(proxy.port);
    u.pathname = `/${name}`;
    dbUrl = u.toString();
    proxied = await openDatabase({ databaseUrl: dbUrl, dataDir: '' });
    redisServer = await startPrivateRedis();
    hooks = await startWebhookReceiver(HOOK_SECRET);
    inProcess = await startRedisNodes({ count: 2, db: proxied.prisma, redisUrl: redisServer.url, prefix: PREFIX, secret: SECRET, nodeIdPrefix: 'test-node', ops: { ...OPS, webhookUrl: hooks.url } });
    nodes.push(...inProcess.nodes);
  });

  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await inProcess?.close();
    await redisServer?.stop();
    await hooks?.close();
    await proxied?.close();
    await proxy?.close();
    await dispose?.();
  });

  it('shows a rider connected to one node in the presence of a dispatcher on the other, live', async () => {
    const dispatcher = await connect(nodes[0]!.url, '/dispatch', await token('dispatcher@demo.local'));
    await ask(dispatcher, 'center:join', { centerId: 1 });
    const changes: PresenceChange[] = [];
    dispatcher.on('presence:changed', (c: PresenceChange) => changes.push(c));

    const riderToken = await token('rider@demo.local');
    const rider = await connect(nodes[1]!.url, '/dispatch', riderToken);
    const list = await until(
      () => ask<PresenceList>(dispatcher, 'presence:list', { centerId: 1 }),
      (l) => l.entries.some((e) => e.role === 'rider'),
    );
    const entry = list.entries.find((e) => e.role === 'rider')!;
    expect(entry).toMatchObject({ connId: rider.id, nodeId: 'test-node-1', transport: 'websocket', silent: false, centerId: 1 });
    expect(list.entries.some((e) => e.role === 'dispatcher' && e.nodeId === 'test-node-0')).toBe(true);

    await ask(rider, 'presence:heartbeat', { appVersion: '0.1.0', battery: { level: 0.42, charging: true }, duty: 'on', centerId: 1, repaired: { snapshot: 3 } });
    await until(() => changes, (c) => c.some((x) => 'entry' in x && x.entry.connId === rider.id && x.entry.battery?.charging === true));
    const after = (await ask<PresenceList>(dispatcher, 'presence:list', { centerId: 1 })).entries.find((e) => e.connId === rider.id)!;
    expect(after).toMatchObject({ appVersion: '0.1.0', battery: { level: 0.4, charging: true }, duty: 'on' });
    // The repair counts reached Prometheus on the rider's node, labelled by node and center.
    const metrics = await (await fetch(`${nodes[1]!.url}/metrics`)).text();
    expect(metrics).toMatch(/dd_client_repairs_total\{center="1",layer="snapshot",node="test-node-1"\} 3/);
    expect(metrics).toMatch(/dd_presence_clients\{center="1",role="rider",node="test-node-1"\} 1/);

    // A bad heartbeat is refused, nothing stored.
    const bad = (await rider.timeout(5000).emitWithAck('presence:heartbeat', { battery: { level: 7 } })) as Ack<unknown>;
    expect('error' in bad && bad.error.code).toBe('bad_request');

    rider.disconnect();
    await until(() => changes, (c) => c.some((x) => 'removed' in x && x.removed === entry.connId));
    expect((await ask<PresenceList>(dispatcher, 'presence:list', { centerId: 1 })).entries.some((e) => e.role === 'rider')).toBe(false);
  });

  it('removes a killed node (kill -9) from presence within one TTL and raises node_down within 15 s, on /monitor and as a signed webhook', async () => {
    const child = await spawnNode({
      DATABASE_URL: dbUrl,
      REDIS_URL: redisServer.url,
      REDIS_PREFIX: PREFIX,
      SESSION_SECRET: SECRET,
      WORKERS: '1', // one process: the pid this test kills is the node
      MONITOR_REPORT_MS: '500',
      PRESENCE_TTL_SEC: '3',
      ALERT_NODE_DOWN_SEC: '3',
      ALERT_WEBHOOK_URL: hooks.url,
      ALERT_WEBHOOK_SECRET: HOOK_SECRET,
    });
    const childId = `${os.hostname()}:${child.pid}`;
    try {
      const admin = await connect(nodes[0]!.url, '/monitor', await token('admin@demo.local'));
      const overviews: MonitorOverview[] = [];
      const alerts: AlertRecord[] = [];
      admin.on('monitor:overview', (o: MonitorOverview) => overviews.push(o));
      admin.on('monitor:alert', (a: AlertRecord) => alerts.push(a));
      await until(() => overviews.at(-1), (o) => !!o && o.nodes.filter((n) => !n.down).length === 3);

      const dispatcher = await connect(nodes[0]!.url, '/dispatch', await token('dispatcher@demo.local'));
      await ask(dispatcher, 'center:join', { centerId: 1 });
      const removed: string[] = [];
      dispatcher.on('presence:changed', (c: PresenceChange) => 'removed' in c && removed.push(c.removed));
      const ghost = await connect(`http://127.0.0.1:${child.port}`, '/dispatch', await token('rider@demo.local'));
      const ghostId = ghost.id!;
      await until(() => ask<PresenceList>(dispatcher, 'presence:list', { centerId: 1 }), (l) => l.entries.some((e) => e.connId === ghostId && e.nodeId === childId));
      const counted = await until(() => overviews.at(-1)!, (o) => (o.centers.find((c) => c.centerId === 1)?.roles.rider ?? 0) >= 1);
      expect(counted.nodes.find((n) => n.nodeId === childId)!.sockets['/dispatch']).toBe(1);

      const killedAt = Date.now();
      child.child.kill('SIGKILL');
      ghost.disconnect();

      // No ghost: gone from the list and announced as removed within one TTL (3 s) plus a sweep.
      await until(() => ask<PresenceList>(dispatcher, 'presence:list', { centerId: 1 }), (l) => !l.entries.some((e) => e.connId === ghostId), 5000);
      await until(() => removed, (r) => r.includes(ghostId), 6000);
      const ghostGoneMs = Date.now() - killedAt;

      const hook = await hooks.waitFor((h) => h.body.alert.kind === 'node_down' && h.body.alert.subject === childId && h.body.status === 'firing', 15_000);
      const alertMs = hook.at - killedAt;
      expect(hook.signatureValid).toBe(true);
      expect(alertMs).toBeLessThan(15_000);
      await until(() => alerts, (a) => a.some((x) => x.kind === 'node_down' && x.subject === childId && !x.resolvedAt), 2000);
      await until(() => overviews.at(-1)!, (o) => o.nodes.find((n) => n.nodeId === childId)?.down === true && o.alerts.some((a) => a.subject === childId));
      // Exactly one evaluator raised it: one firing hook for this node.
      await new Promise((r) => setTimeout(r, 1500));
      expect(hooks.received.filter((h) => h.body.alert.kind === 'node_down' && h.body.alert.subject === childId && h.body.status === 'firing')).toHaveLength(1);
      // The history survives in the database.
      const rows = await proxied.prisma.alert.findMany({ where: { subject: childId, kind: 'node_down' } });
      expect(rows).toHaveLength(1);
      console.info(`[ops] ghost removed ${ghostGoneMs} ms after kill -9; node_down webhook ${alertMs} ms after kill -9`);
    } finally {
      if (child.child.exitCode === null) child.child.kill('SIGKILL');
    }
  });

  it('raises database_down when the database is cut and resolves it when it is back; the webhook is retried until taken', async () => {
    hooks.refuse(2);
    const before = hooks.attempts();
    const cutAt = Date.now();
    await proxy.cut();
    const firing = await hooks.waitFor((h) => h.body.alert.kind === 'database_down' && h.body.status === 'firing', 20_000);
    expect(firing.signatureValid).toBe(true);
    expect(hooks.attempts() - before).toBeGreaterThanOrEqual(3); // two refusals, then taken
    await proxy.restore();
    const resolved = await hooks.waitFor((h) => h.body.alert.kind === 'database_down' && h.body.status === 'resolved', 20_000);
    expect(resolved.body.alert.id).toBe(firing.body.alert.id);
    expect(resolved.body.alert.resolvedAt).not.toBeNull();
    // Written while the database was down, kept and saved once it came back.
    await until(() => proxied.prisma.alert.findUnique({ where: { id: firing.body.alert.id } }), (r) => r?.resolvedAt != null, 10_000);
    console.info(`[ops] database_down webhook ${firing.at - cutAt} ms after the cut (2 refusals retried)`);
  });

  it('raises event_loop_lag when a node keeps blocking its loop (reports in a row) and resolves it after', async () => {
    for (let i = 0; i < 3; i++) {
      const end = Date.now() + 800;
      while (Date.now() < end) {
        // block this process's event loop (both in-process nodes)
      }
      await new Promise((r) => setTimeout(r, 250)); // let a report go out
    }
    const firing = await hooks.waitFor((h) => h.body.alert.kind === 'event_loop_lag' && h.body.status === 'firing', 10_000);
    expect(firing.body.alert.message).toMatch(/event-loop lag p99 \d+ ms \(limit 300 ms\)/);
    await hooks.waitFor((h) => h.body.alert.kind === 'event_loop_lag' && h.body.status === 'resolved' && h.body.alert.id === firing.body.alert.id, 10_000);
  });

  it('raises redis_down when Redis stops and resolves it when Redis is back', async () => {
    const stoppedAt = Date.now();
    await redisServer.stop();
    const firing = await hooks.waitFor((h) => h.body.alert.kind === 'redis_down' && h.body.status === 'firing', 15_000);
    await redisServer.start();
    await hooks.waitFor((h) => h.body.alert.kind === 'redis_down' && h.body.status === 'resolved' && h.body.alert.id === firing.body.alert.id, 20_000);
    expect(hooks.received.filter((h) => h.body.alert.kind === 'redis_down' && h.body.status === 'firing')).toHaveLength(1);
    console.info(`[ops] redis_down webhook ${firing.at - stoppedAt} ms after Redis stopped`);
  });
});
