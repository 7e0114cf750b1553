/**
 * Shop order fan-out: the same committed orders pushed to Socket.IO dispatchers and to MQTT
 * devices, measured in one run.
 *
 * The bench creates orders for the demo device's shop through the real order API (POST
 * /api/orders, API key). Each commit reaches:
 *   - Socket.IO: N dispatcher sockets in the shop's center room (`delivery:created`);
 *   - MQTT, embedded aedes in the server process: N device clients subscribed to the shop's orders
 *     topic (QoS 1), as the demo device;
 *   - MQTT, Mosquitto: a private Mosquitto (dynamic security on) with N device clients; one relay
 *     client of the bench republishes every message it gets from aedes there, so this column pays
 *     one extra hop (shown separately as the Mosquitto hop).
 * Latency = receive - send of the HTTP request, in this process (no clock sync): per message, the
 * time until the LAST subscriber has it (fan-out complete). Then a burst with a few requests in
 * flight measures deliveries per second. Memory: server RSS growth per 1,000 Socket.IO sockets and
 * per 1,000 aedes clients; Mosquitto's own RSS growth per 1,000 clients.
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { io as ioc, type Socket } from 'socket.io-client';
import { mqttTopics, type Ack, type DeliveryRow, type DispatchClientEvents, type DispatchServerEvents } from '../protocol';
import { createDynsec } from '../server/mqtt/dynsec';
import { startPrivateMosquitto } from '../tests/support/mosquitto';
import { DEMO_PASSWORD, fmt, intOption, markdownTable, readRssMb, sleep, summarize } from './lib';
import type { Benchmark, BenchContext, BenchReport } from './types';

type DispatchSocket = Socket<DispatchServerEvents, DispatchClientEvents>;
const CHANNELS = ['Socket.IO /dispatch', 'MQTT embedded aedes', 'MQTT Mosquitto'] as const;
type Channel = (typeof CHANNELS)[number];

/** Receive times per (message, subscriber) of one channel. */
class Series {
  readonly recv: Float64Array;
  received = 0;
  constructor(
    readonly messages: number,
    readonly subscribers: number,
  ) {
    this.recv = new Float64Array(messages * subscribers).fill(Number.NaN);
  }
  record(i: number, sub: number, at: number): void {
    const k = i * this.subscribers + sub;
    if (i < 0 || i >= this.messages || !Number.isNaN(this.recv[k]!)) return;
    this.recv[k] = at;
    this.received += 1;
  }
  /** Per message: time from send until the last subscriber had it (complete fan-outs only). */
  complete(sendAt: Float64Array): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.messages; i++) {
      let hi = -Infinity;
      let all = true;
      for (let j = 0; j < this.subscribers; j++) {
        const r = this.recv[i * this.subscribers + j]!;
        if (Number.isNaN(r)) all = false;
        else hi = Math.max(hi, r);
      }
      if (all) out.push(hi - sendAt[i]!);
    }
    return out;
  }
  lastReceive(): number {
    let hi = -Infinity;
    for (const r of this.recv) if (!Number.isNaN(r)) hi = Math.max(hi, r);
    return hi;
  }
}

interface Phase {
  prefix: string;
  count: number;
  sendAt: Float64Array;
  series: Record<Channel, Series>;
  /** Mosquitto hop: relay publish -> last Mosquitto subscriber. */
  relayAt: Float64Array;
}

function indexOf(phase: Phase | undefined, orderNo: string): number {
  if (!phase || !orderNo.startsWith(phase.prefix)) return -1;
  const i = Number(orderNo.slice(phase.prefix.length));
  return Number.isInteger(i) ? i : -1;
}

async function inBatches(count: number, batch: number, make: (i: number) => Promise<unknown>, progress: (done: number) => void): Promise<void> {
  for (let start = 0; start < count; start += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, count - start) }, (_, k) => make(start + k)));
    progress(Math.min(count, start + batch));
  }
}

export const mqttFanout: Benchmark = {
  name: 'mqtt',
  summary: 'the same committed orders fanned out to Socket.IO dispatchers and MQTT devices (embedded aedes, Mosquitto)',
  options: [
    { name: 'subscribers', description: 'subscribers per channel', defaultText: '500' },
    { name: 'messages', description: 'orders in the latency phase (one at a time)', defaultText: '30' },
    { name: 'gap-ms', description: 'pause between latency-phase orders', defaultText: '100' },
    { name: 'burst', description: 'orders in the throughput burst', defaultText: '60' },
    { name: 'inflight', description: 'order requests in flight during the burst', defaultText: '4' },
  ],
  async run(ctx: BenchContext): Promise<BenchReport> {
    const subscribers = intOption(ctx.args, 'subscribers', 500, 1);
    const messages = intOption(ctx.args, 'messages', 30, 1);
    const gapMs = intOption(ctx.args, 'gap-ms', 100, 0);
    const burst = intOption(ctx.args, 'burst', 60, 1);
    const inflight = intOption(ctx.args, 'inflight', 4, 1);
    const server = await ctx.server();
    const notes: string[] = [];
    const shopId = 1; // the demo device's shop (first shop of the first center)
    const centerId = 1;
    const device = { username: 'device-1', password: DEMO_PASSWORD };

    const mosquitto = await startPrivateMosquitto([4450, 4499]);
    const sockets: DispatchSocket[] = [];
    const clients: MqttClient[] = [];
    try {
      // Mosquitto: the admin gets the server role (it relays), and a device account for the subscribers.
      const relayOut = await mqtt.connectAsync(mosquitto.adminUrl, { clientId: `bench-relay-out-${process.pid}`, reconnectPeriod: 1000 });
      clients.push(relayOut);
      const dynsec = createDynsec(relayOut);
      await dynsec.ensureServerRole('admin');
      const mqDevice = { username: `bench-dev-${process.pid}`, password: randomBytes(12).toString('hex'), shopId };
      await dynsec.provisionDevice(mqDevice);

      let phase: Phase | undefined;
      const newPhase = (prefix: string, count: number): Phase => ({
        prefix,
        count,
        sendAt: new Float64Array(count).fill(Number.NaN),
        relayAt: new Float64Array(count).fill(Number.NaN),
        series: Object.fromEntries(CHANNELS.map((c) => [c, new Series(count, subscribers)])) as Record<Channel, Series>,
      });

      // Relay aedes -> Mosquitto (one bench client on each side).
      const relayIn = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { ...device, clientId: `bench-relay-in-${process.pid}`, reconnectPeriod: 0 });
      clients.push(relayIn);
      relayIn.on('message', (topic, payload) => {
        if (payload.length === 0) return;
        const orderNo = topic.slice(topic.lastIndexOf('/') + 1);
        const i = indexOf(phase, orderNo);
        if (i >= 0 && payload.includes('"order.created"')) phase!.relayAt[i] = performance.now();
        relayOut.publish(topic, payload, { qos: 1 });
      });
      await relayIn.subscribeAsync(mqttTopics.shopOrders(shopId), { qos: 1 });

      const rssServer0 = server.rssMb();
      const rssMosq0 = readRssMb(mosquitto.pid);
      ctx.log(`mqtt: connecting ${subscribers} Socket.IO dispatchers`);
      const token = await server.token('dispatcher@demo.local');
      await inBatches(subscribers, 100, async (j) => {
        const s: DispatchSocket = ioc(`${server.url}/dispatch`, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token } });
        sockets.push(s);
        await new Promise<void>((resolve, reject) => {
          s.once('connect', () => resolve());
          s.once('connect_error', reject);
        });
        const res = (await s.timeout(10_000).emitWithAck('center:join', { centerId })) as Ack<unknown>;
        if ('error' in res) throw new Error(`center:join: ${res.error.message}`);
        s.on('delivery:created', (row: DeliveryRow) => {
          const i = indexOf(phase, row.orderNo);
          if (i >= 0) phase!.series['Socket.IO /dispatch'].record(i, j, performance.now());
        });
      }, (n) => ctx.log(`mqtt: Socket.IO ${n}/${subscribers}`));
      const rssServer1 = server.rssMb();

      const mqttSubscriber = async (channel: Channel, url: string, creds: { username: string; password: string }, j: number) => {
        const c = await mqtt.connectAsync(url, { ...creds, clientId: `bench-${channel.includes('aedes') ? 'a' : 'm'}-${process.pid}-${j}`, reconnectPeriod: 0, keepalive: 120, protocolVersion: 4 });
        clients.push(c);
        c.on('message', (topic, payload) => {
          const i = indexOf(phase, topic.slice(topic.lastIndexOf('/') + 1));
          if (i >= 0 && payload.includes('"order.created"')) phase!.series[channel].record(i, j, performance.now());
        });
        await c.subscribeAsync(mqttTopics.shopOrders(shopId), { qos: 1 });
      };
      ctx.log(`mqtt: connecting ${subscribers} aedes devices`);
      await inBatches(subscribers, 100, (j) => mqttSubscriber('MQTT embedded aedes', `mqtt://127.0.0.1:${server.mqttPort}`, device, j), (n) => ctx.log(`mqtt: aedes ${n}/${subscribers}`));
      const rssServer2 = server.rssMb();
      ctx.log(`mqtt: connecting ${subscribers} Mosquitto devices`);
      await inBatches(subscribers, 100, (j) => mqttSubscriber('MQTT Mosquitto', `mqtt://127.0.0.1:${mosquitto.port}`, mqDevice, j), (n) => ctx.log(`mqtt: Mosquitto ${n}/${subscribers}`));
      const rssMosq1 = readRssMb(mosquitto.pid);

      const headers = { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' };
      const order = async (p: Phase, i: number) => {
        p.sendAt[i] = performance.now();
        const res = await fetch(`${server.url}/api/orders`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ centerId, shopId, orderNo: `${p.prefix}${i}`, shopName: 'bench', shopAddress: '1 Bench-ro', customerName: 'Bench', customerAddress: '2 Bench-ro', items: 'x1', totalWon: 1000, lat: 37.5, lng: 127 }),
        });
        if (res.status !== 201) throw new Error(`POST /api/orders: ${res.status} ${await res.text()}`);
      };
      const settle = async (p: Phase) => {
        const expected = p.count * subscribers;
        const until = performance.now() + 15_000;
        while (CHANNELS.some((c) => p.series[c].received < expected) && performance.now() < until) await sleep(50);
      };

      // Latency: one order at a time.
      const run = `B${process.pid.toString(36)}${Date.now().toString(36)}`;
      const lat = newPhase(`${run}L`, messages);
      phase = lat;
      for (let i = 0; i < messages; i++) {
        await order(lat, i);
        if (i % 10 === 9) ctx.log(`mqtt: latency ${i + 1}/${messages}`);
        await sleep(gapMs);
      }
      await settle(lat);

      // Throughput: a burst with a few requests in flight.
      const thr = newPhase(`${run}T`, burst);
      phase = thr;
      const t0 = performance.now();
      let next = 0;
      await Promise.all(Array.from({ length: inflight }, async () => {
        while (next < burst) await order(thr, next++);
      }));
      ctx.log(`mqtt: burst of ${burst} sent, waiting for fan-out`);
      await settle(thr);

      const rows: string[][] = [];
      const base = { p50: 0, p99: 0, rate: 0 };
      for (const c of CHANNELS) {
        const l = summarize(lat.series[c].complete(lat.sendAt));
        const delivered = thr.series[c].received;
        const rate = delivered / ((thr.series[c].lastReceive() - t0) / 1000);
        if (c === 'Socket.IO /dispatch') Object.assign(base, { p50: l.p50, p99: l.p99, rate });
        const mem =
          c === 'Socket.IO /dispatch' ? (rssServer1 !== null && rssServer0 !== null ? ((rssServer1 - rssServer0) * 1000) / subscribers : null)
          : c === 'MQTT embedded aedes' ? (rssServer2 !== null && rssServer1 !== null ? ((rssServer2 - rssServer1) * 1000) / subscribers : null)
          : rssMosq1 !== null && rssMosq0 !== null ? ((rssMosq1 - rssMosq0) * 1000) / subscribers : null;
        rows.push([
          c,
          String(subscribers),
          mem !== null && mem < 0 ? 'n/a (RSS fell: GC)' : fmt(mem, 1),
          `${lat.series[c].received}/${messages * subscribers}`,
          fmt(l.p50, 1),
          fmt(l.p99, 1),
          `${fmt(l.p50 / base.p50)} / ${fmt(l.p99 / base.p99)}`,
          `${delivered}/${burst * subscribers}`,
          fmt(rate, 0),
          fmt(rate / base.rate),
        ]);
      }
      const hop: number[] = [];
      for (let i = 0; i < messages; i++) {
        const last = lat.series['MQTT Mosquitto'];
        let hi = -Infinity;
        for (let j = 0; j < subscribers; j++) hi = Math.max(hi, last.recv[i * subscribers + j] ?? Number.NaN);
        if (Number.isFinite(hi) && Number.isFinite(lat.relayAt[i]!)) hop.push(hi - lat.relayAt[i]!);
      }
      const h = summarize(hop);
      for (const c of CHANNELS) {
        if (thr.series[c].received < burst * subscribers || lat.series[c].received < messages * subscribers) notes.push(`${c}: not every subscriber got every message within 15 s (see delivered columns)`);
      }
      notes.push('Latency is from the HTTP order request to the last subscriber (fan-out complete), so it includes the commit; the Mosquitto row also includes the bench relay hop from aedes.');
      notes.push(`Mosquitto hop alone (relay publish -> last of ${subscribers} Mosquitto subscribers): p50 ${fmt(h.p50, 1)} ms, p99 ${fmt(h.p99, 1)} ms.`);
      notes.push('deliveries/s is bounded by how fast the server commits the burst of orders (every channel gets the same commits); at equal figures the fan-out itself is not the limit.');
      notes.push('MB/1k: server RSS growth per 1,000 Socket.IO sockets and per 1,000 aedes clients (same process, measured one after the other); Mosquitto: its own RSS growth.');
      return {
        title: `MQTT vs Socket.IO fan-out (${subscribers} subscribers per channel, ${messages} + ${burst} orders)`,
        blocks: [
          markdownTable(
            ['channel', 'subscribers', 'MB / 1k subs', 'latency phase delivered', 'p50 ms', 'p99 ms', 'p50 / p99 vs Socket.IO', 'burst delivered', 'deliveries/s', 'vs Socket.IO'],
            rows,
          ),
        ],
        notes,
      };
    } finally {
      for (const s of sockets) s.disconnect();
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
      await mosquitto.stop();
    }
  },
};
