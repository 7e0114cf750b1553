import { spawn } from 'node:child_process';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  mqttTopics,
  shopOrderMessageSchema,
  type DeliveryRow,
  type ShopOrderMessage,
  type ShopOrdersResponse,
  type ShopStatus,
} from '../../protocol';
import { createDevicesService, type NewDeviceCredentials } from '../../server/devices/devices.service';
import type { MqttOptions } from '../../server/mqtt/channel';
import { postgres } from '../support/backends';
import { startPrivateMosquitto, type PrivateMosquitto } from '../support/mosquitto';
import { ask, data, nextEvent, startTestApp, type TestApp } from '../support/app';

interface BrokerUnderTest {
  name: string;
  start(): Promise<{ options: MqttOptions; stop: () => Promise<void>; devicePort: (t: TestApp) => number }>;
}

const BROKERS: BrokerUnderTest[] = [
  {
    name: 'the embedded aedes broker',
    start() {
      return Promise.resolve({ options: { mode: 'embedded', port: 0, host: '127.0.0.1', websocket: true }, stop: () => Promise.resolve(), devicePort: (t: TestApp) => t.app.mqtt!.port()! });
    },
  },
  {
    name: 'a private Mosquitto with dynamic security',
    async start() {
      const m: PrivateMosquitto = await startPrivateMosquitto();
      return { options: { mode: 'external', url: m.adminUrl, shareGroup: `dd-test-${process.pid}` }, stop: () => m.stop(), devicePort: () => m.port };
    },
  },
];

/** Messages a device client received, with a way to wait for one. */
function inbox(client: MqttClient) {
  const got: { topic: string; payload: string; retain: boolean; dup: boolean }[] = [];
  const waiters: (() => void)[] = [];
  client.on('message', (topic, payload, packet) => {
    got.push({ topic, payload: payload.toString('utf8'), retain: packet.retain, dup: packet.dup });
    for (const w of waiters.splice(0)) w();
  });
  return {
    got,
    /** The first message (already received or to come) matching `match`. */
    async wait(match: (m: (typeof got)[number]) => boolean, ms = 5000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const hit = got.find(match);
        if (hit) return hit;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching message within ${ms} ms; got ${JSON.stringify(got.map((g) => [g.topic, g.retain, g.dup, g.payload.slice(0, 40)]))}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
  };
}

const parse = (payload: string): ShopOrderMessage => shopOrderMessageSchema.parse(JSON.parse(payload));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(BROKERS)('shop devices over MQTT on $name', (broker) => {
  let t: TestApp;
  let stopBroker: () => Promise<void>;
  let devicePort: number;
  let centerId: number;
  let shopId: number;
  let otherShopId: number;
  const clients: MqttClient[] = [];
  let orderCounter = 0;

  beforeAll(async () => {
    const b = await broker.start();
    stopBroker = b.stop;
    t = await startTestApp(postgres, { mqtt: b.options, deliveries: 20, deviceAckTimeoutSec: 30 });
    devicePort = b.devicePort(t);
    const shops = await t.db.prisma.shop.findMany({ orderBy: { id: 'asc' }, take: 2 });
    shopId = shops[0]!.id;
    otherShopId = shops[1]!.id;
    centerId = shops[0]!.centerId;
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.end(true);
    await t?.close();
    await stopBroker?.();
  });

  async function newDevice(shop = shopId): Promise<NewDeviceCredentials> {
    const created = await t.app.services.devices.create(shop, `Test device ${++orderCounter}`);
    await t.app.mqtt!.provision(created);
    return created;
  }

  async function connect(d: Pick<NewDeviceCredentials, 'username' | 'password'>, opts: IClientOptions = {}): Promise<MqttClient> {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${devicePort}`, {
      username: d.username,
      password: d.password,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      protocolVersion: 4,
      ...opts,
    });
    clients.push(c);
    return c;
  }

  function newOrder(shop = shopId, orderNo = `M${process.pid}-${Date.now().toString(36)}-${++orderCounter}`): Promise<DeliveryRow> {
    return t.app.services.deliveries.create(
      { centerId, orderNo, shopId: shop, shopName: '', shopAddress: '1 Test-ro', customerName: 'Test', customerAddress: '2 Test-ro', items: 'x1', totalWon: 10000, lat: 37.5, lng: 127 },
      { label: 'test' },
    );
  }

  it('delivers a committed order to its shop with QoS 1, and nothing for a rolled-back command', async () => {
    const device = await newDevice();
    const c = await connect(device);
    const box = inbox(c);
    const [grant] = await c.subscribeAsync(mqttTopics.shopOrders(shopId), { qos: 1 });
    expect(grant?.qos).toBe(1);

    const row = await newOrder();
    const got = await box.wait((m) => m.topic === mqttTopics.shopOrder(shopId, row.orderNo));
    const msg = parse(got.payload);
    expect(msg).toMatchObject({ v: 1, event: 'order.created', shopId, orderNo: row.orderNo, status: 'waiting', version: row.version, modDate: row.modDate });

    // A command that rolls back (the order number is taken) publishes nothing; the next commit does.
    await expect(newOrder(shopId, row.orderNo)).rejects.toMatchObject({ code: 'conflict' });
    await expect(t.app.services.deliveries.cancel(row.deliverySeq, 'test', { label: 'test' }, { expectedVersion: row.version + 5 })).rejects.toMatchObject({ code: 'conflict' });
    const cancelled = await t.app.services.deliveries.cancel(row.deliverySeq, 'Customer cancelled', { label: 'test' });
    const next = await box.wait((m) => m.topic === mqttTopics.shopOrder(shopId, row.orderNo) && m.payload !== got.payload);
    expect(parse(next.payload)).toMatchObject({ event: 'order.cancelled', status: 'cancelled', version: cancelled.version });
    const forOrder = box.got.filter((m) => m.topic === mqttTopics.shopOrder(shopId, row.orderNo) && m.payload !== '');
    expect(forOrder.map((m) => parse(m.payload).version)).toEqual([row.version, cancelled.version]);
  });

  it('keeps the last state of open orders retained and clears closed ones', async () => {
    const device = await newDevice();
    const open = await newOrder();
    const assigned = await t.app.services.deliveries.assign(open.deliverySeq, (await t.db.prisma.rider.findFirst({ where: { centerId, status: { not: 'off' } } }))!.id, { label: 'test' });
    const closed = await newOrder();
    await t.app.services.deliveries.cancel(closed.deliverySeq, 'Customer cancelled', { label: 'test' });
    await t.app.mqtt!.flush();

    // A device coming back (new session) gets the open order's latest state at once, retained.
    const c = await connect(device, { clean: true });
    const box = inbox(c);
    await c.subscribeAsync(mqttTopics.shopOrders(shopId), { qos: 1 });
    const got = await box.wait((m) => m.topic === mqttTopics.shopOrder(shopId, open.orderNo));
    expect(got.retain).toBe(true);
    expect(parse(got.payload)).toMatchObject({ status: 'assigned', version: assigned.version });
    await sleep(300);
    expect(box.got.filter((m) => m.topic === mqttTopics.shopOrder(shopId, closed.orderNo) && m.payload !== '')).toEqual([]);
  });

  it('redelivers a QoS 1 message a device did not acknowledge, on reconnect with clean=false', async () => {
    const device = await newDevice();
    const clientId = `dd-qos-${process.pid}-${orderCounter}`;
    const orderNo = `Q${process.pid}-${Date.now().toString(36)}`;
    // First session: takes the order, then receives its cancellation (the final, unretained
    // state) but never sends the PUBACK (mqtt.js sends it only once handleMessage calls back).
    const withheld: string[] = [];
    const first = await connect(device, { clientId, clean: false });
    first.handleMessage = (packet, done) => {
      const payload = packet.payload.toString();
      if (payload.includes(orderNo) && payload.includes('"cancelled"')) withheld.push(payload);
      else done();
    };
    await first.subscribeAsync(mqttTopics.shopOrders(shopId), { qos: 1 });
    const row = await newOrder(shopId, orderNo);
    const cancelled = await t.app.services.deliveries.cancel(row.deliverySeq, 'Customer cancelled', { label: 'test' });
    for (let i = 0; i < 100 && withheld.length === 0; i++) await sleep(50);
    expect(withheld).toHaveLength(1);
    first.end(true);
    await sleep(200);

    // Same client id, persistent session: the broker sends it again (Mosquitto flags it DUP;
    // aedes 1.2 resends without the flag, which the version-based merge makes harmless).
    const second = mqtt.connect(`mqtt://127.0.0.1:${devicePort}`, { username: device.username, password: device.password, clientId, clean: false, reconnectPeriod: 0, protocolVersion: 4 });
    clients.push(second);
    const box = inbox(second); // listening before CONNACK: the redelivery follows it at once
    const again = await box.wait((m) => m.topic === mqttTopics.shopOrder(shopId, orderNo) && m.payload.includes('"cancelled"'));
    expect(again.dup).toBe(!broker.name.includes('aedes'));
    expect(parse(again.payload)).toMatchObject({ orderNo, status: 'cancelled', version: cancelled.version });
    second.end(true);
  });

  it('refuses other shops, other devices\' topics and bad credentials', async () => {
    const device = await newDevice();
    const intruder = await newDevice(otherShopId);
    await expect(connect({ username: device.username, password: 'wrong-password' })).rejects.toThrow(/Not authorized|Bad username or password|authori/i);

    const c = await connect(intruder);
    for (const topic of [mqttTopics.shopOrders(shopId), `dd/v1/shops/${shopId}/#`, '#', mqttTopics.deviceAck(shopId, device.username)]) {
      await expect(c.subscribeAsync(topic, { qos: 1 }), topic).rejects.toMatchObject({ packet: { granted: [128] } });
    }
    // Its own shop's orders are fine.
    expect((await c.subscribeAsync(mqttTopics.shopOrders(otherShopId), { qos: 1 }))[0]?.qos).toBe(1);

    // Writing another device's ack topic is refused: the order is not marked received.
    const row = await newOrder();
    // (aedes drops the connection, Mosquitto drops the message: MQTT 3.1.1 has no refusal code for PUBLISH.)
    c.publish(mqttTopics.deviceAck(shopId, device.username), JSON.stringify({ orderNo: row.orderNo }), { qos: 1 });
    await sleep(500);
    expect((await t.app.services.deliveries.get(row.deliverySeq)).shopReceivedAt).toBeNull();
    if (broker.name.includes('embedded')) {
      const metrics = await t.app.metrics.registry.getSingleMetricAsString('dd_mqtt_refused_total');
      expect(metrics).toMatch(/action="subscribe"[^}]*} [4-9]/);
      expect(metrics).toMatch(/action="connect"[^}]*} [1-9]/);
      expect(metrics).toMatch(/action="publish"[^}]*} [1-9]/);
    }
  });

  it("records the device's acknowledgement on the timeline and tells the dispatcher", async () => {
    const device = await newDevice();
    const dispatcher = await t.connect('/dispatch', await t.token('dispatcher@demo.local'));
    data(await ask(dispatcher, 'center:join', { centerId }));
    const c = await connect(device);
    const box = inbox(c);
    await c.subscribeAsync(mqttTopics.shopOrders(shopId), { qos: 1 });
    const row = await newOrder();
    expect(row.shopAckDueAt).not.toBeNull();
    const msg = parse((await box.wait((m) => m.topic === mqttTopics.shopOrder(shopId, row.orderNo))).payload);

    const patched = nextEvent<DeliveryRow>(dispatcher, 'delivery:created', (r) => r.deliverySeq === row.deliverySeq && !!r.shopReceivedAt);
    await c.publishAsync(mqttTopics.deviceAck(shopId, device.username), JSON.stringify({ orderNo: msg.orderNo, version: msg.version }), { qos: 1 });
    const seen = await patched;
    expect(seen.version).toBe(row.version + 1);
    const timeline = await t.app.services.deliveries.timeline(row.deliverySeq);
    expect(timeline.at(-1)).toMatchObject({ type: 'shop_received', note: "received by the shop's device", actorLabel: `device:${device.username}` });
    // The device hears the acknowledged state too (same status, newer version, receivedAt set).
    const echoed = parse((await box.wait((m) => m.topic === mqttTopics.shopOrder(shopId, row.orderNo) && parse(m.payload).version === seen.version)).payload);
    expect(echoed.receivedAt).toBe(seen.shopReceivedAt);
    // A second acknowledgement changes nothing.
    await c.publishAsync(mqttTopics.deviceAck(shopId, device.username), JSON.stringify({ orderNo: msg.orderNo }), { qos: 1 });
    await sleep(300);
    expect((await t.app.services.deliveries.get(row.deliverySeq)).version).toBe(seen.version);
  });

  it('marks a device online by heartbeat and offline by its last will; the dispatcher sees the shop flagged', async () => {
    const shop = (await t.db.prisma.shop.findFirst({ where: { centerId, devices: { none: {} } }, orderBy: { id: 'desc' } }))!;
    const device = await newDevice(shop.id);
    const dispatcher = await t.connect('/dispatch', await t.token('dispatcher@demo.local'));
    data(await ask(dispatcher, 'center:join', { centerId }));
    const before = data(await ask<ShopStatus[]>(dispatcher, 'shops:status', { centerId })).find((s) => s.shopId === shop.id);
    expect(before).toMatchObject({ devices: 1, online: 0, offline: true });

    const statusTopic = mqttTopics.deviceStatus(shop.id, device.username);
    const onlineEvent = nextEvent<ShopStatus>(dispatcher, 'shop:status', (s) => s.shopId === shop.id && !s.offline);
    const c = await connect(device, { will: { topic: statusTopic, payload: Buffer.from(JSON.stringify({ v: 1, state: 'offline' })), qos: 1, retain: false } });
    await c.publishAsync(statusTopic, JSON.stringify({ v: 1, state: 'online' }), { qos: 1 });
    expect(await onlineEvent).toMatchObject({ online: 1, offline: false });

    // The connection dies without DISCONNECT: the broker publishes the will.
    const offlineEvent = nextEvent<ShopStatus>(dispatcher, 'shop:status', (s) => s.shopId === shop.id && s.offline, 10_000);
    c.stream.destroy();
    expect(await offlineEvent).toMatchObject({ online: 0, offline: true });
    expect(await t.app.services.devices.counts()).toMatchObject({ shopsOffline: expect.any(Number) as number });
  });

  it('is readable by a C client: mosquitto_sub receives a shop order event', async () => {
    const device = await newDevice();
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(devicePort), '-u', device.username, '-P', device.password, '-q', '1', '-v', '-t', mqttTopics.shopOrders(shopId)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    sub.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    try {
      await sleep(500); // let it subscribe
      const row = await newOrder();
      const deadline = Date.now() + 5000;
      while (!out.includes(row.orderNo) && Date.now() < deadline) await sleep(50);
      const line = out.split('\n').find((l) => l.startsWith(`${mqttTopics.shopOrder(shopId, row.orderNo)} `))!;
      expect(line).toBeDefined();
      expect(parse(line.slice(line.indexOf(' ') + 1))).toMatchObject({ event: 'order.created', orderNo: row.orderNo });
    } finally {
      sub.kill('SIGTERM');
    }
  });
});

describe('the polling fallback and MQTT over WebSocket (embedded broker)', () => {
  let t: TestApp;
  let shopId: number;
  let centerId: number;
  let device: NewDeviceCredentials;

  beforeAll(async () => {
    t = await startTestApp(postgres, { mqtt: { mode: 'embedded', port: 0, host: '127.0.0.1', websocket: true }, deliveries: 30 });
    const shop = (await t.db.prisma.shop.findFirst({ orderBy: { id: 'asc' } }))!;
    shopId = shop.id;
    centerId = shop.centerId;
    device = await t.app.services.devices.create(shopId, 'Poller');
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

  it('returns what the topic carries: open orders, then changes since a time', async () => {
    const first = await fetch(`${t.url}/api/shops/${shopId}/orders`, { headers: basic(device.username, device.password) });
    expect(first.status).toBe(200);
    const open = (await first.json()) as ShopOrdersResponse;
    for (const m of open.messages) expect(['waiting', 'assigned', 'picked_up']).toContain(shopOrderMessageSchema.parse(m).status);

    const row = await t.app.services.deliveries.create(
      { centerId, orderNo: `P${process.pid}-${Date.now().toString(36)}`, shopId, shopName: '', shopAddress: 'x', customerName: 'c', customerAddress: 'a', items: 'i', totalWon: 1000, lat: 37.5, lng: 127 },
      { label: 'test' },
    );
    const res = await fetch(`${t.url}/api/shops/${shopId}/orders?since=${open.asOf}`, { headers: basic(device.username, device.password) });
    const changed = (await res.json()) as ShopOrdersResponse;
    expect(changed.messages.find((m) => m.orderNo === row.orderNo)).toMatchObject({ v: 1, event: 'order.created', status: 'waiting', version: row.version, modDate: row.modDate });
  });

  it('pages a long list or backlog: a poller that follows asOf gets every order and every change', async () => {
    const devices = createDevicesService({ db: t.db.prisma, shopOrdersPage: 4 });
    const follow = async (since: number | undefined) => {
      const seen = new Set<string>();
      let page: ShopOrdersResponse | undefined;
      for (let k = 0; k < 30; k++) {
        page = await devices.shopOrders(shopId, since);
        for (const m of page.messages) seen.add(m.orderNo);
        if (page.messages.length < 4) break;
        since = page.asOf;
      }
      return { seen, asOf: page!.asOf };
    };
    const start = await devices.shopOrders(shopId, undefined);
    const made: string[] = [];
    for (let k = 0; k < 10; k++) {
      const row = await t.app.services.deliveries.create(
        { centerId, orderNo: `G${process.pid}-${Date.now().toString(36)}-${k}`, shopId, shopName: '', shopAddress: 'x', customerName: 'c', customerAddress: 'a', items: 'i', totalWon: 1000, lat: 37.5, lng: 127 },
        { label: 'test' },
      );
      made.push(row.orderNo);
    }
    // Every open order of the shop, over several pages (the later pages are changes, and may
    // carry finished orders too).
    const open = await t.db.prisma.delivery.findMany({ where: { shopId, status: { in: ['waiting', 'assigned', 'picked_up'] } }, select: { orderNo: true } });
    expect(open.length).toBeGreaterThan(8);
    const all = await follow(undefined);
    expect([...all.seen]).toEqual(expect.arrayContaining(open.map((d) => d.orderNo)));
    // Every change since a watermark, over several pages.
    const backlog = await follow(start.asOf);
    expect([...backlog.seen]).toEqual(expect.arrayContaining(made));
    expect(backlog.asOf).toBeGreaterThanOrEqual(start.asOf);
  });

  it('refuses a missing or wrong credential, another shop, and a bad since', async () => {
    expect((await fetch(`${t.url}/api/shops/${shopId}/orders`)).status).toBe(401);
    expect((await fetch(`${t.url}/api/shops/${shopId}/orders`, { headers: basic(device.username, 'nope') })).status).toBe(401);
    expect((await fetch(`${t.url}/api/shops/${shopId + 1}/orders`, { headers: basic(device.username, device.password) })).status).toBe(403);
    expect((await fetch(`${t.url}/api/shops/${shopId}/orders?since=2026-12-01T04:00:00Z`, { headers: basic(device.username, device.password) })).status).toBe(400);
  });

  it('lets an admin register a device (password shown once) and nobody else', async () => {
    const dispatcher = await t.token('dispatcher@demo.local');
    const denied = await fetch(`${t.url}/api/shops/${shopId}/devices`, { method: 'POST', headers: { authorization: `Bearer ${dispatcher}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Tablet' }) });
    expect(denied.status).toBe(403);
    const admin = await t.token('admin@demo.local');
    const res = await fetch(`${t.url}/api/shops/${shopId}/devices`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Tablet' }) });
    expect(res.status).toBe(201);
    const created = (await res.json()) as NewDeviceCredentials;
    expect(created.password.length).toBeGreaterThanOrEqual(20);
    const stored = await t.db.prisma.device.findUnique({ where: { username: created.username } });
    expect(stored?.passwordHash).toMatch(/^scrypt\$/);
    expect(stored?.passwordHash).not.toContain(created.password);
  });

  it('serves MQTT over WebSocket at /mqtt on the main port', async () => {
    const c = await mqtt.connectAsync(`${t.url.replace('http', 'ws')}/mqtt`, { username: device.username, password: device.password, reconnectPeriod: 0 });
    try {
      const box = inbox(c);
      await c.subscribeAsync(mqttTopics.shopOrders(shopId), { qos: 1 });
      const row = await t.app.services.deliveries.create(
        { centerId, orderNo: `W${process.pid}-${Date.now().toString(36)}`, shopId, shopName: '', shopAddress: 'x', customerName: 'c', customerAddress: 'a', items: 'i', totalWon: 1000, lat: 37.5, lng: 127 },
        { label: 'test' },
      );
      const got = await box.wait((m) => m.topic === mqttTopics.shopOrder(shopId, row.orderNo));
      expect(parse(got.payload).orderNo).toBe(row.orderNo);
    } finally {
      c.end(true);
    }
  });
});
