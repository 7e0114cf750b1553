import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NAMESPACES, type MonitorHistory, type MonitorOverview, type PresenceChange, type PresenceList } from '../../protocol';
import { embedded } from '../support/backends';
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
