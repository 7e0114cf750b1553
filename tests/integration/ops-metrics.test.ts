import fs from 'node:fs';
import path from 'node:path';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NAMESPACES, type MonitorHistory, type MonitorOverview, type PresenceChange, type PresenceList } from '../../protocol';
import { embedded } from '../support/backends';
import { SCRAPE_WALKS_EVERY_HANDLE } from '../../server/metrics';
import { ask, createTestDelivery, data, nextEvent, startTestApp, type TestApp } from '../support/app';

/** One process without Redis: in-memory presence and node registry, the same series and feed. */
describe('operations on a single node (no Redis)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(embedded, { ops: { reportIntervalMs: 300, presenceSilentAfterMs: 1500 } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves node-labelled series that the Grafana dashboard uses', async () => {
    const dispatcher = await t.connect(NAMESPACES.dispatch, await t.token('dispatcher@demo.local'));
    data(await ask(dispatcher, 'center:join', { centerId: 1 }));
    await createTestDelivery(t, 1);
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(new RegExp(`dd_event_age_seconds_count\\{node="${t.app.nodeId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"\\} [1-9]`));
    expect(text).toMatch(/dd_presence_clients\{center="1",role="dispatcher",node="[^"]+"\} 1/);
    expect(text).toMatch(/dd_connected_sockets\{namespace="\/dispatch",node="[^"]+"\} 1/);

    const dashboard = fs.readFileSync(path.resolve(import.meta.dirname, '../../deploy/grafana/dispatch-desk.json'), 'utf8');
    const used = new Set([...dashboard.matchAll(/\b((?:dd|process)_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|count|sum)$/, '')));
    expect(used.size).toBeGreaterThan(8);
    for (const name of used) expect(text, `dashboard series ${name}`).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
  });

  it('counts open file descriptors without listing every handle on the event loop', async () => {
    const text = await (await fetch(`${t.url}/metrics`)).text();
    const fds = Number(/^process_open_fds\{node="[^"]+"\} (\d+)$/m.exec(text)?.[1]);
    // This process holds at least its listening socket, the database and the test's connections.
    expect(fds).toBeGreaterThan(3);
    for (const name of SCRAPE_WALKS_EVERY_HANDLE.filter((n) => n !== 'process_open_fds')) {
      expect(text, name).not.toMatch(new RegExp(`^${name}\\b`, 'm'));
    }
  });

  it('pushes an overview of this node to an admin on /monitor, with history', async () => {
    const mon = await t.connect(NAMESPACES.monitor, await t.token('admin@demo.local'));
    const first = await nextEvent<MonitorOverview>(mon, 'monitor:overview');
    expect(first.nodes.map((n) => n.nodeId)).toEqual([t.app.nodeId]);
    const node = first.nodes[0]!;
    expect(node.down).toBe(false);
    expect(node.pid).toBe(process.pid);
    expect(node.sockets['/monitor']).toBeGreaterThanOrEqual(0);
    expect(node.adapterLagMs).toBe(0);
    await t.app.ops.cycle();
    const hist = data(await ask<MonitorHistory>(mon, 'monitor:history', {}));
    expect(hist.nodes[0]!.samples.length).toBeGreaterThanOrEqual(1);
  });

  it('adds a gauge other features register (e.g. connected devices) to the stats record', async () => {
    t.app.ops.registerGauge('mqtt_devices', () => 7);
    const mon = await t.connect(NAMESPACES.monitor, await t.token('admin@demo.local'));
    await t.app.ops.cycle();
    const o = await nextEvent<MonitorOverview>(mon, 'monitor:overview', (x) => x.nodes[0]?.gauges.mqtt_devices === 7);
    expect(o.nodes[0]!.gauges).toEqual({ mqtt_devices: 7 });
  });

  it('refuses presence of a center the user may not see', async () => {
    const { token } = await t.createUser('dispatcher', [1]);
    const s = await t.connect(NAMESPACES.dispatch, token);
    const res = await ask(s, 'presence:list', { centerId: 2 });
    expect('error' in res && res.error.code).toBe('forbidden');
  });

  it('flags a connected rider that sends no location or action as silent, and clears it when the rider acts', async () => {
    const dispatcher = await t.connect(NAMESPACES.dispatch, await t.token('dispatcher@demo.local'));
    data(await ask(dispatcher, 'center:join', { centerId: 1 }));
    const rider = await t.createUser('rider', [1]);
    const phone = await t.connect(NAMESPACES.dispatch, rider.token);
    const silent = await nextEvent<PresenceChange>(dispatcher, 'presence:changed', (c) => 'entry' in c && c.entry.connId === phone.id && c.entry.silent, 6000);
    expect('entry' in silent && silent.entry.riderId).toBe(rider.user.riderId);
    const back = nextEvent<PresenceChange>(dispatcher, 'presence:changed', (c) => 'entry' in c && c.entry.connId === phone.id && !c.entry.silent, 6000);
    data(await ask(phone, 'rider:position', { lat: 37.5, lng: 127.0 }));
    const entry = await back;
    expect('entry' in entry && entry.entry.lastLocationAt).not.toBeNull();
  });

  it('lists a rider that came on polling as websocket once it upgrades, with the facts of its heartbeat', async () => {
    const dispatcher = await t.connect(NAMESPACES.dispatch, await t.token('dispatcher@demo.local'));
    data(await ask(dispatcher, 'center:join', { centerId: 1 }));
    const rider = await t.createUser('rider', [1]);
    const onWebsocket = nextEvent<PresenceChange>(dispatcher, 'presence:changed', (c) => 'entry' in c && c.entry.riderId === rider.user.riderId && c.entry.transport === 'websocket', 6000);
    const phone = await t.connect(NAMESPACES.dispatch, rider.token, { transports: ['polling', 'websocket'] });
    const announced = await onWebsocket;
    expect('entry' in announced && announced.entry.connId).toBe(phone.id);
    data(await ask(phone, 'presence:heartbeat', { appVersion: '2.3.4', battery: { level: 0.81, charging: false }, duty: 'on' }));
    const list = data(await ask<PresenceList>(dispatcher, 'presence:list', { centerId: 1 }));
    expect(list.entries.find((e) => e.connId === phone.id)).toMatchObject({ transport: 'websocket', appVersion: '2.3.4', battery: { level: 0.8, charging: false }, duty: 'on' });
  });
});

/**
 * A phone that vanishes sends no close: only the heartbeat finds it (PING_INTERVAL_SEC and
 * PING_TIMEOUT_SEC). The phone here speaks Engine.IO over a raw WebSocket so that it can stop
 * answering pings, as a phone that lost its network does, without closing anything.
 */
describe('the heartbeat', () => {
  const ping = { intervalMs: 1000, timeoutMs: 1500 };
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(embedded, { app: { ping } });
  });
  afterAll(async () => {
    await t?.close();
  });

  /** A rider's phone on /dispatch that answers pings only while `answering` is true. */
  async function rawPhone(token: string) {
    const ws = new WebSocket(`${t.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
    const phone = { ws, answering: true, open: null as null | { pingInterval: number; pingTimeout: number }, sid: '', closedAt: 0 };
    const joined = new Promise<void>((resolve, reject) => {
      ws.on('message', (raw: Buffer) => {
        const text = raw.toString();
        if (text.startsWith('0')) {
          phone.open = JSON.parse(text.slice(1)) as { pingInterval: number; pingTimeout: number };
          ws.send(`40${NAMESPACES.dispatch},${JSON.stringify({ token })}`);
        } else if (text === '2') {
          if (phone.answering) ws.send('3');
        } else if (text.startsWith(`40${NAMESPACES.dispatch},`)) {
          phone.sid = (JSON.parse(text.slice(`40${NAMESPACES.dispatch},`.length)) as { sid: string }).sid;
          resolve();
        } else if (text.startsWith(`44${NAMESPACES.dispatch},`)) reject(new Error(`refused: ${text}`));
      });
      ws.on('error', reject);
    });
    ws.on('close', () => (phone.closedAt = Date.now()));
    await joined;
    return phone;
  }

  it('announces the configured interval and keeps a phone that answers', async () => {
    const rider = await t.createUser('rider', [1]);
    const phone = await rawPhone(rider.token);
    expect(phone.open).toMatchObject({ pingInterval: 1000, pingTimeout: 1500 });
    await new Promise((r) => setTimeout(r, ping.intervalMs * 3 + ping.timeoutMs));
    expect(phone.closedAt).toBe(0);
    phone.ws.close();
  });

  it('takes a rider whose phone stopped answering out of presence within the interval and the timeout', async () => {
    const dispatcher = await t.connect(NAMESPACES.dispatch, await t.token('dispatcher@demo.local'));
    data(await ask(dispatcher, 'center:join', { centerId: 1 }));
    const rider = await t.createUser('rider', [1]);
    const phone = await rawPhone(rider.token);
    const listed = data(await ask<PresenceList>(dispatcher, 'presence:list', { centerId: 1 }));
    expect(listed.entries.map((e) => e.connId)).toContain(phone.sid);
    const gone = nextEvent<PresenceChange>(dispatcher, 'presence:changed', (c) => 'removed' in c && c.removed === phone.sid, 8000);
    phone.answering = false;
    const silentFrom = Date.now();
    await gone;
    const noticedAfter = Date.now() - silentFrom;
    // The server closed the connection itself (the phone never did).
    await expect.poll(() => phone.closedAt, { timeout: 3000 }).toBeGreaterThan(0);
    // Not before a ping went unanswered for the whole timeout; not after the next ping's timeout.
    expect(noticedAfter).toBeGreaterThanOrEqual(ping.timeoutMs - 100);
    expect(noticedAfter).toBeLessThanOrEqual(ping.intervalMs + ping.timeoutMs + 1500);
  });
});

/**
 * Each node pushes its connections' presence expiry forward a few at a time, the event loop free
 * in between (one pass over 15,000 connections held a worker's commands for up to 140 ms). Here
 * a batch of 2 and a TTL of 1.2 s: connections that send nothing stay present well past the TTL
 * only if every batch of the pass reaches the store.
 */
describe('presence refreshed in batches', () => {
  const ttlMs = 1200;
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(embedded, { ops: { reportIntervalMs: 200, presenceTtlMs: ttlMs, presenceRefreshBatch: 2 } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('keeps every connection of a node present past the TTL, whichever batch it falls in', async () => {
    const token = await t.token('dispatcher@demo.local');
    const sockets = await Promise.all(Array.from({ length: 7 }, () => t.connect(NAMESPACES.dispatch, token)));
    const ids = sockets.map((s) => s.id);
    const listed = async () => data(await ask<PresenceList>(sockets[0]!, 'presence:list', { centerId: 1 })).entries.map((e) => e.connId);
    expect(await listed()).toEqual(expect.arrayContaining(ids));
    await new Promise((r) => setTimeout(r, ttlMs * 3));
    expect(await listed()).toEqual(expect.arrayContaining(ids));
    // One that leaves is gone at once; the others stay.
    sockets.pop()!.disconnect();
    await expect.poll(listed, { timeout: 2000 }).not.toContain(ids.at(-1));
    await new Promise((r) => setTimeout(r, ttlMs * 2));
    expect(await listed()).toEqual(expect.arrayContaining(ids.slice(0, -1)));
  });
});
