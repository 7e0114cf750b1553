/**
 * One load-generator process of the capacity benchmark (started by bench/capacity.ts with an IPC
 * channel; it holds at most what its open-file limit allows, ~18k sockets).
 *
 * It opens clients of one kind, spread over the given server URLs and source addresses:
 * - product:  socket.io-client on /dispatch with `auth: { token }`, then `center:join`;
 * - socketio: socket.io-client on /dispatch of the bare server, then `join`;
 * - ws:       a raw WebSocket, then `{t:'join'}`.
 * Every client counts the fan-out messages it receives; a message carries its send time (ms
 * since the epoch, sub-ms, taken by the publisher on the same machine) in its title, so the
 * latency is receive - send across processes without clock sync. Commands for ack latency go
 * from a sample of clients (`centers:list` on the product: one database read; `ping` on the
 * baselines). In a reconnect storm, clients of a server that died reconnect to the next URL,
 * re-join their room and (product) resync from a watermark with `deliveries:sync`.
 */
import { io as ioc, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import WebSocket from 'ws';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { rawText } from './ws-text';

export type ClientKind = 'product' | 'socketio' | 'ws';

export type LoadgenRequest =
  | { type: 'open'; kind: ClientKind; urls: string[]; /** One per new client, in order (product). */ tokens: string[]; rooms: string[]; centerIds: number[]; count: number; concurrency: number; sources: string[] }
  | { type: 'acks'; durationMs: number; perSecond: number; avoidUrl?: string }
  | { type: 'fanout-start' }
  | { type: 'fanout-stop' }
  | { type: 'fanout-count' }
  | { type: 'storm-watch'; deadUrl: string | null; sinceTx: number }
  | { type: 'storm-result' }
  | { type: 'lag' }
  | { type: 'status' }
  | { type: 'close' };

export type LoadgenReply =
  | { type: 'opened'; held: number; failed: number; errors: string[]; ms: number }
  | { type: 'acks'; latencies: number[]; failed: number; closedUnder: number; errors: string[]; lagP99Ms: number }
  | { type: 'fanout'; latencies: number[]; received: number; lastAt: number | null }
  | { type: 'fanout-count'; received: number }
  | { type: 'storm'; dropped: number; back: number; lastBackMs: number | null; errors: string[]; failedAttempts: number; phases: StormPhases; drops: StormDrops }
  | { type: 'lag'; p99Ms: number; maxMs: number }
  | { type: 'status'; held: number; rssMb: number }
  | { type: 'error'; message: string }
  | { type: 'closed' };

const now = () => performance.timeOrigin + performance.now();

/**
 * This process's own event-loop delay: a busy load generator answers late, and its lateness
 * would read as the server's. `acks` reports it over its window; `lag` since the last `lag` or
 * `storm-watch`.
 */
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
const loopP99Ms = () => (loopDelay.count > 0 ? loopDelay.percentile(99) / 1e6 : 0);
const loopMaxMs = () => (loopDelay.count > 0 ? loopDelay.max / 1e6 : 0);

interface Client {
  kind: ClientKind;
  url: string;
  /** Index into the URL list (the storm moves a client to the next one). */
  urlIndex: number;
  room: string;
  centerId: number;
  token: string;
  source: string;
  io?: Socket;
  ws?: WebSocket;
  open: boolean;
  pending: Map<number, (ok: boolean, err?: string) => void>;
}

const clients: Client[] = [];
let urls: string[] = [];
/** Fan-out messages counted since `fanout-start`, and when the last one came (epoch ms). */
let fanout: { on: boolean; lat: number[]; received: number; lastAt: number | null } = { on: false, lat: [], received: 0, lastAt: null };
/** Where a storm client's successful reconnect spent its time, ms: open until connected, the join, the resync. */
export interface StormPhases {
  connect: number[];
  join: number[];
  sync: number[];
}
const noPhases = (): StormPhases => ({ connect: [], join: [], sync: [] });
/**
 * Why the storm's clients lost their connection, by Socket.IO's disconnect reason: `transport
 * close` when the server closed it or died, `ping timeout` when the client heard no ping for
 * the heartbeat's interval + timeout (`--ping-interval`, `--ping-timeout`): a client of a survivor
 * that answered late or was not heard.
 */
export interface StormDrops {
  reasons: Record<string, number>;
}
const noDrops = (): StormDrops => ({ reasons: {} });
let storm:
  | {
      deadUrl: string | null;
      sinceTx: number;
      t0: number;
      dropped: number;
      back: number;
      lastBackMs: number | null;
      errors: string[];
      failedAttempts: number;
      phases: StormPhases;
      drops: StormDrops;
    }
  | undefined;
let nextId = 1;
let closing = false;

function onMessage(title: unknown): void {
  if (!fanout.on || typeof title !== 'string' || !title.startsWith('cap ')) return;
  const sent = Number(title.slice(4));
  if (!Number.isFinite(sent)) return;
  const at = now();
  fanout.received += 1;
  fanout.lastAt = at;
  fanout.lat.push(at - sent);
}

/** Connect (or reconnect) one client; resolves when it is connected and in its room. */
function connect(c: Client, resync: boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail('timeout (30 s)'), 30_000);
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      c.open = true;
      resolve();
    };
    function fail(why: string) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      c.io?.disconnect();
      c.ws?.terminate();
      reject(new Error(why));
    }
    if (c.kind === 'ws') {
      const ws = new WebSocket(`${c.url.replace(/^http/, 'ws')}/`, { localAddress: c.source, perMessageDeflate: false });
      c.ws = ws;
      ws.on('open', () => {
        const id = nextId++;
        c.pending.set(id, (ok, err) => (ok ? done() : fail(err ?? 'join failed')));
        ws.send(JSON.stringify({ t: 'join', room: c.room, id }));
      });
      ws.on('message', (raw) => {
        const m = JSON.parse(rawText(raw)) as { t: string; id?: number; data?: { title?: unknown } };
        if (m.t === 'ack' && m.id !== undefined) {
          const p = c.pending.get(m.id);
          c.pending.delete(m.id);
          p?.(true);
        } else if (m.t === 'msg') onMessage(m.data?.title);
      });
      ws.on('error', (err) => fail(err.message));
      ws.on('close', () => lost(c, 'transport close'));
      return;
    }
    const opts: Partial<ManagerOptions & SocketOptions> & { localAddress: string } = {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: 30_000,
      localAddress: c.source,
      ...(c.kind === 'product' ? { auth: { token: c.token } } : {}),
    };
    const s = ioc(`${c.url}/dispatch`, opts);
    c.io = s;
    s.on('notice:posted', (n: { title?: unknown }) => onMessage(n.title));
    s.once('connect_error', (err) => fail(`connect_error ${err.message}`));
    const opened = now();
    s.once('connect', () => {
      const connected = now();
      const join = c.kind === 'product' ? s.timeout(30_000).emitWithAck('center:join', { centerId: c.centerId }) : s.timeout(30_000).emitWithAck('join', c.room);
      join
        .then(async (res: { error?: { code: string } }) => {
          if (res.error) throw new Error(`join: ${res.error.code}`);
          if (resync && c.kind === 'product' && storm) {
            const st = storm;
            const joined = now();
            const r = (await s.timeout(30_000).emitWithAck('deliveries:sync', { centerId: c.centerId, sinceTx: st.sinceTx })) as { error?: { code: string } };
            if (r.error) throw new Error(`deliveries:sync: ${r.error.code}`);
            st.phases.connect.push(connected - opened);
            st.phases.join.push(joined - connected);
            st.phases.sync.push(now() - joined);
          }
          done();
        })
        .catch((err: Error) => fail(err.message));
    });
    s.on('disconnect', (reason) => lost(c, reason));
  });
}

/**
 * Reconnects that fell due, started at most `STARTS_PER_TURN` per turn of the event loop. In a
 * storm this process runs late and its reconnect timers fall due by the thousand in one turn;
 * started all at once they held the loop for up to 14 s, and its other clients, unable to read
 * their pings meanwhile, were dropped by the servers and counted in the storm. Real clients are
 * separate devices: none of them waits for another's handshake.
 */
const STARTS_PER_TURN = 20;
const due: (() => void)[] = [];
let draining = false;
function startSoon(start: () => void): void {
  due.push(start);
  if (draining) return;
  draining = true;
  setImmediate(drain);
}
function drain(): void {
  for (const start of due.splice(0, STARTS_PER_TURN)) start();
  if (due.length > 0) setImmediate(drain);
  else draining = false;
}

/** A client lost its connection: in a storm it goes to the next server; otherwise it is counted gone. */
function lost(c: Client, reason: string): void {
  if (closing || !c.open) return;
  c.open = false;
  for (const p of c.pending.values()) p(false, 'connection lost');
  c.pending.clear();
  // A storm client: on the killed server (N processes), or any client that dropped (cluster: one URL).
  if (!storm || (storm.deadUrl !== null && c.url !== storm.deadUrl)) return;
  storm.dropped += 1;
  const st = storm;
  st.drops.reasons[reason] = (st.drops.reasons[reason] ?? 0) + 1;
  const retry = (attempt: number) => {
    c.urlIndex = (c.urlIndex + 1) % urls.length;
    if (urls[c.urlIndex] === st.deadUrl && urls.length > 1) c.urlIndex = (c.urlIndex + 1) % urls.length;
    c.url = urls[c.urlIndex]!;
    // Socket.IO's own reconnection waits 1-5 s with jitter; a storm client waits 0-1 s, then backs off.
    const start = () =>
      void connect(c, true).then(
        () => {
          st.back += 1;
          st.lastBackMs = now() - st.t0;
        },
        (err: Error) => {
          st.failedAttempts += 1;
          if (st.errors.length < 5) st.errors.push(err.message);
          if (attempt < 10 && !closing) retry(attempt + 1);
        },
      );
    setTimeout(() => startSoon(start), Math.random() * 1000 * Math.min(attempt + 1, 5));
  };
  retry(0);
}

/** One command with an ack; resolves with the round trip in ms. */
function command(c: Client): Promise<number> {
  const t0 = now();
  if (c.kind === 'ws') {
    return new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        c.pending.delete(id);
        reject(new Error('ack timeout'));
      }, 10_000);
      c.pending.set(id, (ok, err) => {
        clearTimeout(timer);
        if (ok) resolve(now() - t0);
        else reject(new Error(err ?? 'failed'));
      });
      c.ws!.send(JSON.stringify({ t: 'ping', id }));
    });
  }
  const ack = c.kind === 'product' ? c.io!.timeout(10_000).emitWithAck('centers:list', {}) : c.io!.timeout(10_000).emitWithAck('ping', {});
  return ack.then((res: { error?: { code: string } }) => {
    if (res.error) throw new Error(res.error.code);
    return now() - t0;
  });
}

async function open(req: Extract<LoadgenRequest, { type: 'open' }>): Promise<LoadgenReply> {
  urls = req.urls;
  const t0 = performance.now();
  const start = clients.length;
  const errors: string[] = [];
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < req.count) {
      const k = next++;
      const i = start + k;
      const urlIndex = i % req.urls.length;
      const roomIndex = i % req.rooms.length;
      const c: Client = {
        kind: req.kind,
        url: req.urls[urlIndex]!,
        urlIndex,
        room: req.rooms[roomIndex]!,
        centerId: req.centerIds[roomIndex] ?? 0,
        token: req.tokens[k] ?? '',
        source: req.sources[i % req.sources.length]!,
        open: false,
        pending: new Map(),
      };
      clients.push(c);
      try {
        await connect(c, false);
      } catch (err) {
        failed += 1;
        if (errors.length < 5) errors.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: req.concurrency }, worker));
  return { type: 'opened', held: clients.filter((c) => c.open).length, failed, errors, ms: performance.now() - t0 };
}

async function acks(req: Extract<LoadgenRequest, { type: 'acks' }>): Promise<LoadgenReply> {
  const pool = clients.filter((c) => c.open && c.url !== req.avoidUrl);
  const latencies: number[] = [];
  const errors: string[] = [];
  let failed = 0;
  let closedUnder = 0;
  loopDelay.reset();
  if (pool.length === 0) return { type: 'acks', latencies, failed, closedUnder, errors, lagP99Ms: 0 };
  const total = Math.max(1, Math.round((req.perSecond * req.durationMs) / 1000));
  const gap = req.durationMs / total;
  const inflight: Promise<void>[] = [];
  for (let k = 0; k < total; k++) {
    const c = pool[Math.floor(Math.random() * pool.length)]!;
    // A client whose connection closed since the round began (a storm's killed worker) would only
    // queue the command until its timeout: counted as closed under, at once.
    if (!c.open) {
      closedUnder += 1;
      await new Promise((r) => setTimeout(r, gap));
      continue;
    }
    inflight.push(
      command(c).then(
        (ms) => void latencies.push(ms),
        (err: Error) => {
          // A command on a connection that closed meanwhile (a storm's killed process) cannot be
          // answered: counted apart, not as a late or failed answer of a live server.
          if (!c.open) {
            closedUnder += 1;
            return;
          }
          failed += 1;
          if (errors.length < 5) errors.push(err.message);
        },
      ),
    );
    await new Promise((r) => setTimeout(r, gap));
  }
  await Promise.all(inflight);
  return { type: 'acks', latencies, failed, closedUnder, errors, lagP99Ms: loopP99Ms() };
}

function reply(msg: LoadgenReply): void {
  process.send?.(msg);
}

process.on('message', (raw: LoadgenRequest) => {
  const handle = async (): Promise<LoadgenReply | undefined> => {
    switch (raw.type) {
      case 'open':
        return open(raw);
      case 'acks':
        return acks(raw);
      case 'fanout-start':
        fanout = { on: true, lat: [], received: 0, lastAt: null };
        return undefined;
      case 'fanout-count':
        return { type: 'fanout-count', received: fanout.received };
      case 'fanout-stop': {
        fanout.on = false;
        const out: LoadgenReply = { type: 'fanout', latencies: fanout.lat, received: fanout.received, lastAt: fanout.lastAt };
        fanout = { on: false, lat: [], received: 0, lastAt: null };
        return out;
      }
      case 'lag': {
        const out: LoadgenReply = { type: 'lag', p99Ms: loopP99Ms(), maxMs: loopMaxMs() };
        loopDelay.reset();
        return out;
      }
      case 'storm-watch':
        loopDelay.reset();
        storm = { deadUrl: raw.deadUrl, sinceTx: raw.sinceTx, t0: now(), dropped: 0, back: 0, lastBackMs: null, errors: [], failedAttempts: 0, phases: noPhases(), drops: noDrops() };
        return undefined;
      case 'storm-result':
        return {
          type: 'storm',
          dropped: storm?.dropped ?? 0,
          back: storm?.back ?? 0,
          lastBackMs: storm?.lastBackMs ?? null,
          errors: storm?.errors ?? [],
          failedAttempts: storm?.failedAttempts ?? 0,
          phases: storm?.phases ?? noPhases(),
          drops: storm?.drops ?? noDrops(),
        };
      case 'status':
        return { type: 'status', held: clients.filter((c) => c.open).length, rssMb: process.memoryUsage().rss / 1048576 };
      case 'close':
        closing = true;
        for (const c of clients) {
          c.io?.disconnect();
          c.ws?.terminate();
        }
        return { type: 'closed' };
    }
  };
  handle().then(
    (out) => {
      if (out) reply(out);
      if (raw.type === 'close') setTimeout(() => process.exit(0), 200);
    },
    (err: unknown) => reply({ type: 'error', message: (err as Error).stack ?? String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
