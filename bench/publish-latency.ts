/**
 * HTTP publish -> Socket.IO receive latency.
 *
 * For each client count N: connect N dispatcher sockets to /dispatch (websocket only, in batches),
 * each joining `center:<id>`; publish warm-up messages (not counted); then publish M messages one
 * at a time (POST /api/publish, notice:posted to center:<id>) with a gap between them. The send
 * time is taken with performance.now() just before fetch, every socket stamps its receive time in
 * the same process, so latency = receive - send needs no clock sync. Then a burst of messages
 * with a few publishes in flight measures throughput (deliveries per second) at saturation.
 */
import { io as ioc, type Socket } from 'socket.io-client';
import type { Ack, DispatchClientEvents, DispatchServerEvents, Notice } from '../protocol';
import { cpuMeter, fmt, intListOption, intOption, markdownTable, sleep, summarize, UsageError, type ServerHandle, type Summary } from './lib';
import type { Benchmark, BenchContext, BenchReport } from './types';

type DispatchSocket = Socket<DispatchServerEvents, DispatchClientEvents>;

const DISPATCHER = 'dispatcher@demo.local';

interface Params {
  clients: number;
  messages: number;
  warmup: number;
  gapMs: number;
  batch: number;
  burst: number;
  inflight: number;
  centerId: number;
}

/** One series of titled messages; every socket stamps the time it received each one. */
class Phase {
  readonly recv: Float64Array;
  readonly sendAt: Float64Array;
  readonly rtt: Float64Array;
  received = 0;
  duplicates = 0;
  publishFailures: string[] = [];
  private waiter: (() => void) | undefined;

  constructor(
    readonly prefix: string,
    readonly count: number,
    readonly clients: number,
  ) {
    this.recv = new Float64Array(count * clients).fill(Number.NaN);
    this.sendAt = new Float64Array(count).fill(Number.NaN);
    this.rtt = new Float64Array(count).fill(Number.NaN);
  }

  get expected(): number {
    return this.count * this.clients;
  }

  title(i: number): string {
    return `${this.prefix}${i}`;
  }

  /** Returns false when the title is not one of this phase's. */
  record(title: string, client: number, at: number): boolean {
    if (!title.startsWith(this.prefix)) return false;
    const i = Number(title.slice(this.prefix.length));
    if (!Number.isInteger(i) || i < 0 || i >= this.count) return false;
    const k = i * this.clients + client;
    if (!Number.isNaN(this.recv[k]!)) {
      this.duplicates += 1;
      return true;
    }
    this.recv[k] = at;
    this.received += 1;
    if (this.received === this.expected) this.waiter?.();
    return true;
  }

  /** Resolves when every delivery arrived or `ms` passed. */
  async complete(ms: number): Promise<boolean> {
    if (this.received < this.expected) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.received === this.expected;
  }

  latencies(): Float64Array {
    const out = new Float64Array(this.received);
    let n = 0;
    for (let i = 0; i < this.count; i++) {
      for (let j = 0; j < this.clients; j++) {
        const r = this.recv[i * this.clients + j]!;
        if (!Number.isNaN(r)) out[n++] = r - this.sendAt[i]!;
      }
    }
    return out;
  }

  /** Per message: latency to the first and to the last socket that got it (fan-out complete). */
  fanOut(): { first: number[]; last: number[] } {
    const first: number[] = [];
    const last: number[] = [];
    for (let i = 0; i < this.count; i++) {
      let lo = Infinity;
      let hi = -Infinity;
      let all = true;
      for (let j = 0; j < this.clients; j++) {
        const r = this.recv[i * this.clients + j]!;
        if (Number.isNaN(r)) {
          all = false;
          continue;
        }
        lo = Math.min(lo, r);
        hi = Math.max(hi, r);
      }
      if (lo !== Infinity) first.push(lo - this.sendAt[i]!);
      if (all && hi !== -Infinity) last.push(hi - this.sendAt[i]!);
    }
    return { first, last };
  }

  firstSend(): number {
    return this.sendAt[0]!;
  }

  lastReceive(): number {
    let hi = -Infinity;
    for (const r of this.recv) if (r > hi) hi = r;
    return hi;
  }
}

class Clients {
  readonly sockets: DispatchSocket[] = [];
  phase: Phase | undefined;
  stray = 0;
  unexpectedDisconnects: string[] = [];
  private closing = false;

  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  private connectOne(index: number): Promise<DispatchSocket> {
    const s: DispatchSocket = ioc(`${this.url}/dispatch`, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: 15_000,
      auth: { token: this.token },
    });
    this.sockets.push(s);
    s.on('notice:posted', (n: Notice) => {
      const at = performance.now();
      if (!this.phase?.record(n.title, index, at)) this.stray += 1;
    });
    s.on('disconnect', (reason) => {
      if (!this.closing) this.unexpectedDisconnects.push(`socket ${index}: ${reason}`);
    });
    return new Promise((resolve, reject) => {
      s.once('connect', () => resolve(s));
      s.once('connect_error', (err) => reject(new Error(`socket ${index}: connect_error ${err.message}`)));
    });
  }

  private async join(s: DispatchSocket, centerId: number): Promise<void> {
    const res = (await s.timeout(15_000).emitWithAck('center:join', { centerId })) as Ack<{ centerId: number | 'all' }>;
    if ('error' in res) throw new Error(`center:join: ${res.error.code} ${res.error.message}`);
  }

  /** Connect and join `count` sockets, `batch` at a time. */
  async connect(count: number, batch: number, centerId: number): Promise<void> {
    for (let start = 0; start < count; start += batch) {
      const ids = Array.from({ length: Math.min(batch, count - start) }, (_, k) => start + k);
      await Promise.all(ids.map(async (i) => this.join(await this.connectOne(i), centerId)));
    }
  }

  close(): void {
    this.closing = true;
    for (const s of this.sockets) s.disconnect();
    this.sockets.length = 0;
  }
}

async function publish(server: ServerHandle, phase: Phase, i: number, centerId: number): Promise<void> {
  const body = JSON.stringify({
    namespace: '/dispatch',
    room: `center:${centerId}`,
    event: 'notice:posted',
    data: { title: phase.title(i), body: '', level: 'info' },
  });
  const headers = { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' };
  const t0 = performance.now();
  phase.sendAt[i] = t0;
  try {
    const res = await fetch(`${server.url}/api/publish`, { method: 'POST', headers, body });
    const text = await res.text();
    phase.rtt[i] = performance.now() - t0;
    if (res.status !== 202) phase.publishFailures.push(`#${i}: HTTP ${res.status} ${text.slice(0, 200)}`);
  } catch (err) {
    phase.publishFailures.push(`#${i}: ${(err as Error).message}`);
  }
}

/** One publish at a time, `gapMs` after each answer. */
async function paced(server: ServerHandle, phase: Phase, p: Params): Promise<void> {
  for (let i = 0; i < phase.count; i++) {
    await publish(server, phase, i, p.centerId);
    if (p.gapMs > 0) await sleep(p.gapMs);
  }
}

/** `inflight` publishers back to back, no gap. */
async function burst(server: ServerHandle, phase: Phase, p: Params): Promise<number> {
  let next = 0;
  const worker = async () => {
    while (next < phase.count) await publish(server, phase, next++, p.centerId);
  };
  await Promise.all(Array.from({ length: Math.max(1, p.inflight) }, worker));
  return performance.now();
}

interface ScenarioResult {
  p: Params;
  rssBeforeMb: number | null;
  rssMb: number | null;
  connectMs: number;
  latency: Summary;
  rtt: Summary;
  fanFirst: Summary;
  fanLast: Summary;
  received: number;
  expected: number;
  duplicates: number;
  failures: string[];
  pacedRate: number;
  burst:
    | {
        messages: number;
        received: number;
        expected: number;
        publishRate: number;
        deliveryRate: number;
        latency: Summary;
        serverCpuPct: number | null;
        benchCpuPct: number;
        durationS: number;
        failures: string[];
      }
    | undefined;
  stray: number;
  disconnects: string[];
}

/** Room for every delivery to arrive after the last publish: generous, but bounded. */
const settleMs = (p: Params) => 5_000 + p.clients * 5;

async function scenario(ctx: BenchContext, server: ServerHandle, token: string, p: Params): Promise<ScenarioResult> {
  const clients = new Clients(server.url, token);
  try {
    const rssBeforeMb = server.rssMb();
    const c0 = performance.now();
    await clients.connect(p.clients, p.batch, p.centerId);
    const connectMs = performance.now() - c0;
    await sleep(200); // let the server settle after the last join
    const rssMb = server.rssMb();
    ctx.log(`  ${p.clients} sockets connected and joined center:${p.centerId} in ${fmt(connectMs, 0)} ms; server RSS ${fmt(rssMb, 1)} MB`);

    if (p.warmup > 0) {
      const warm = new Phase('warmup ', p.warmup, p.clients);
      clients.phase = warm;
      await paced(server, warm, p);
      await warm.complete(settleMs(p));
    }

    const measured = new Phase('bench ', p.messages, p.clients);
    clients.phase = measured;
    await paced(server, measured, p);
    await measured.complete(settleMs(p));
    const fan = measured.fanOut();
    const pacedSpan = measured.lastReceive() - measured.firstSend();
    ctx.log(`  paced: ${measured.received}/${measured.expected} deliveries`);

    let burstResult: ScenarioResult['burst'];
    if (p.burst > 0) {
      const b = new Phase('burst ', p.burst, p.clients);
      clients.phase = b;
      const meter = cpuMeter(server.pid);
      const publishedAt = await burst(server, b, p);
      await b.complete(settleMs(p) + p.burst * 5);
      const cpu = meter.stop();
      const span = (b.received ? b.lastReceive() : performance.now()) - b.firstSend();
      burstResult = {
        messages: p.burst,
        received: b.received,
        expected: b.expected,
        publishRate: (p.burst * 1000) / (publishedAt - b.firstSend()),
        deliveryRate: (b.received * 1000) / span,
        latency: summarize(b.latencies()),
        serverCpuPct: cpu.otherPct,
        benchCpuPct: cpu.selfPct,
        durationS: span / 1000,
        failures: b.publishFailures,
      };
      ctx.log(`  burst: ${b.received}/${b.expected} deliveries in ${fmt(span / 1000, 2)} s`);
    }
    clients.phase = undefined;

    return {
      p,
      rssBeforeMb,
      rssMb,
      connectMs,
      latency: summarize(measured.latencies()),
      rtt: summarize(measured.rtt.filter((v) => !Number.isNaN(v))),
      fanFirst: summarize(fan.first),
      fanLast: summarize(fan.last),
      received: measured.received,
      expected: measured.expected,
      duplicates: measured.duplicates,
      failures: measured.publishFailures,
      pacedRate: (measured.received * 1000) / pacedSpan,
      burst: burstResult,
      stray: clients.stray,
      disconnects: [...clients.unexpectedDisconnects],
    };
  } finally {
    clients.close();
    await sleep(Math.min(2000, 300 + p.clients)); // let the server process the disconnects
  }
}

const pct = (a: number, b: number) => (b ? `${a} / ${b} (${fmt((a * 100) / b, a === b ? 0 : 2)}%)` : '0 / 0');

export const publishLatency: Benchmark = {
  name: 'publish-latency',
  summary: 'HTTP POST /api/publish -> Socket.IO notice:posted receive latency and throughput, N sockets in one center room',
  options: [
    { name: 'clients', description: 'client counts to measure, one scenario each', defaultText: '1,1000' },
    { name: 'messages', description: 'measured messages per scenario (one value, or one per client count)', defaultText: '200 below 100 clients, else 100' },
    { name: 'warmup', description: 'warm-up messages per scenario, not counted', defaultText: '20' },
    { name: 'gap', description: 'ms between one publish answer and the next publish', defaultText: '20' },
    { name: 'batch', description: 'sockets connected at a time', defaultText: '100' },
    { name: 'burst', description: 'throughput burst messages per scenario (0: skip; one value or one per client count)', defaultText: '1000 below 100 clients, else 200' },
    { name: 'inflight', description: 'concurrent publishes during the burst', defaultText: '16' },
    { name: 'center', description: 'center id whose room the sockets join', defaultText: '1' },
  ],

  async run(ctx: BenchContext): Promise<BenchReport> {
    const a = ctx.args;
    const clientCounts = intListOption(a, 'clients', [1, 1000]);
    if (clientCounts.some((n) => n < 1)) throw new UsageError('--clients must be at least 1');
    const perScenario = (name: string, fallback: (clients: number, k: number) => number): number[] => {
      const list = intListOption(a, name, []);
      if (list.length === 0) return clientCounts.map(fallback);
      if (list.length === 1) return clientCounts.map(() => list[0]!);
      if (list.length !== clientCounts.length) throw new UsageError(`--${name} needs one value or one per --clients value`);
      return list;
    };
    const messages = perScenario('messages', (n) => (n < 100 ? 200 : 100));
    if (messages.some((m) => m < 1)) throw new UsageError('--messages must be at least 1');
    const bursts = perScenario('burst', (n) => (n < 100 ? 1000 : 200));
    const common = {
      warmup: intOption(a, 'warmup', 20),
      gapMs: intOption(a, 'gap', 20),
      batch: intOption(a, 'batch', 100, 1),
      inflight: intOption(a, 'inflight', 16, 1),
      centerId: intOption(a, 'center', 1, 1),
    };

    const server = await ctx.server();
    const token = await server.token(DISPATCHER);
    const results: ScenarioResult[] = [];
    const notes: string[] = [];
    for (const [k, clients] of clientCounts.entries()) {
      const p: Params = { ...common, clients, messages: messages[k]!, burst: bursts[k]! };
      const left = ctx.deadline - performance.now();
      if (left < 20_000) {
        notes.push(`skipped ${clients} clients: only ${fmt(left / 1000, 0)} s of the time budget left`);
        continue;
      }
      ctx.log(`publish-latency: ${clients} client(s), ${p.warmup} warm-up + ${p.messages} paced + ${p.burst} burst messages`);
      results.push(await scenario(ctx, server, token, p));
    }

    const latencyTable = markdownTable(
      ['clients', 'messages', 'deliveries received', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'publish RTT p50 ms', 'publish RTT p99 ms', 'server RSS MB'],
      results.map((r) => [
        String(r.p.clients),
        String(r.p.messages),
        pct(r.received, r.expected),
        fmt(r.latency.p50),
        fmt(r.latency.p90),
        fmt(r.latency.p99),
        fmt(r.latency.max),
        fmt(r.rtt.p50),
        fmt(r.rtt.p99),
        fmt(r.rssMb, 1),
      ]),
    );
    const withBurst = results.filter((r) => r.burst);
    const throughputTable = markdownTable(
      ['clients', 'burst messages', 'in flight', 'deliveries received', 'publishes/s', 'deliveries/s', 'burst p50 ms', 'burst p99 ms', 'server CPU %', 'bench CPU %'],
      withBurst.map((r) => {
        const b = r.burst!;
        return [
          String(r.p.clients),
          String(b.messages),
          String(r.p.inflight),
          pct(b.received, b.expected),
          fmt(b.publishRate, 0),
          fmt(b.deliveryRate, 0),
          fmt(b.latency.p50),
          fmt(b.latency.p99),
          fmt(b.serverCpuPct, 0),
          fmt(b.benchCpuPct, 0),
        ];
      }),
    );

    const blocks = [
      `Paced: ${common.warmup} warm-up messages (not counted), then one publish at a time with ${common.gapMs} ms after each answer; ` +
        'latency = socket receive - send, both performance.now() in the bench process, over every (message, socket) delivery.',
      latencyTable,
    ];
    if (withBurst.length) {
      blocks.push(
        `Throughput: a burst with ${common.inflight} publishes in flight and no gap; deliveries/s = deliveries received / (last receive - first send). ` +
          'CPU % is of one core over the burst (server process; bench process incl. its 1..N sockets).',
        throughputTable,
      );
    }

    for (const r of results) {
      const n = r.p.clients;
      notes.push(
        `${n} client(s): connect+join ${fmt(r.connectMs, 0)} ms (batches of ${r.p.batch}); server RSS ${fmt(r.rssBeforeMb, 1)} MB before connecting, ` +
          `${fmt(r.rssMb, 1)} MB after; per message, first socket p50 ${fmt(r.fanFirst.p50)} ms, last socket (fan-out complete) ` +
          `p50 ${fmt(r.fanLast.p50)} / p99 ${fmt(r.fanLast.p99)} ms; paced delivery rate ${fmt(r.pacedRate, 0)} deliveries/s (offered, not a limit).`,
      );
      if (r.received !== r.expected) notes.push(`LOSS at ${n} client(s): ${r.expected - r.received} of ${r.expected} paced deliveries never arrived.`);
      if (r.burst && r.burst.received !== r.burst.expected) {
        notes.push(`LOSS at ${n} client(s) in the burst: ${r.burst.expected - r.burst.received} of ${r.burst.expected} deliveries never arrived.`);
      }
      if (r.burst) {
        const b = r.burst;
        const bound =
          b.benchCpuPct >= 90
            ? 'the bench client was CPU-bound, so this is a lower bound of what the server can deliver'
            : b.serverCpuPct !== null && b.serverCpuPct >= 90
              ? 'the server was CPU-bound'
              : 'neither process was CPU-bound: the rest is waiting (PostgreSQL API-key lookups, the publish round-trips)';
        notes.push(`${n} client(s) burst: ${fmt(b.durationS, 2)} s; ${bound}.`);
      }
      if (r.duplicates) notes.push(`${n} client(s): ${r.duplicates} duplicate deliveries.`);
      if (r.stray) notes.push(`${n} client(s): ${r.stray} notice:posted events outside the current phase (late warm-up or foreign).`);
      const failures = [...r.failures, ...(r.burst?.failures ?? [])];
      if (failures.length) notes.push(`${n} client(s): ${failures.length} publish failures, first: ${failures.slice(0, 3).join('; ')}`);
      if (r.disconnects.length) notes.push(`${n} client(s): ${r.disconnects.length} unexpected disconnects, first: ${r.disconnects.slice(0, 3).join('; ')}`);
    }
    if (results.some((r) => r.p.clients > 1)) {
      notes.push(
        'With N sockets in one bench process the k-th socket\'s receive time includes the bench\'s own work on the k-1 deliveries before it, ' +
          'so multi-client latencies are an upper bound on the server\'s fan-out latency (see the bench CPU %). ' +
          'The server emits before it answers the publish, so the publish RTT there also includes the bench taking in those deliveries.',
      );
    }
    return { title: 'publish-latency', blocks, notes };
  },
};
