/**
 * The multi-node chaos test: real server processes (the production entry) on one throw-away
 * PostgreSQL database and a private redis-server, behind the committed nginx config
 * (deploy/nginx.conf), with node clocks skewed by faketime. Real roles follow the board:
 * dispatchers of one center each, HQ on all centers, riders in their private rooms, over
 * WebSocket and (to prove sticky routing) HTTP long-polling, through nginx and directly to nodes.
 * Thousands of changes are driven through commands whose steps alternate between nodes, while a
 * node (or a worker) is killed with SIGKILL and started again, Redis is killed and started again,
 * and client transports die. Afterwards every client must equal the database on every field the
 * screens show (status, rider, version) within one snapshot period plus 5 s.
 *
 * One test, parametrized by topology. Loopback only, ports from this suite's fixed range
 * (4200-4299), bounded in time; it owns its database (created and dropped here) and its Redis.
 */
import http from 'node:http';
import pg from 'pg';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRowStore, isCarried, rowsToRepair, DELIVERY_EVENTS, type DeliveryRow, type DeliverySnapshot, type DeliverySyncResponse, type RowStore } from '../../protocol';
import { createDeliverySync, type DeliverySync, type DispatchClientSocket, type RepairLayer } from '../../app/lib/delivery-sync';
import { request } from '../../app/lib/socket';
import { hashPassword } from '../../server/auth/password';
import { openDatabase, type Database } from '../../server/db/database';
import { applyMigrations } from '../../server/db/migrate';
import { seedDemo } from '../../server/demo/seed';
import { TEST_PG_URL } from '../support/backends';
import {
  createServerNode,
  descendants,
  freePortsIn,
  requireTool,
  startNginx,
  startPrivateRedis,
  type Nginx,
  type NodeSpec,
  type PrivateRedis,
  type ServerNode,
} from '../support/processes';

const PORT_RANGE = [4200, 4299] as const;
const SNAPSHOT_INTERVAL_MS = 3000;
const MIN_CHANGES = 2000;
const MIN_RUN_MS = 30_000;
const MAX_RUN_MS = 150_000;
const KILL_AT_MS = 8_000;
const KILL_DOWN_MS = 2_000;
const REDIS_AT_MS = 18_000;
const REDIS_DOWN_MS = 3_000;
const DRIVERS = 16;
const DISPATCHERS_PER_CENTER = 4; // 2 websocket + 1 polling through nginx, 1 websocket straight to a node
const HQ_CLIENTS = 3; // websocket and polling through nginx, websocket straight to a node
const RIDERS_PER_CENTER = 3;
const SECRET = 'cluster-chaos-secret-0123456789abcdefghij';
const PASSWORD = 'demo';

interface Topology {
  name: string;
  nodes: Omit<NodeSpec, 'port'>[];
  /** node: SIGKILL a whole node and start it again; worker: SIGKILL one worker (its primary forks a new one). */
  kill: 'node' | 'worker';
}

const TOPOLOGIES: Topology[] = [
  {
    name: '3 nodes behind nginx, clocks +10 s / -7 s / exact',
    nodes: [
      { name: 'node-a', skew: '+10s' },
      { name: 'node-b', skew: '-7s' },
      { name: 'node-c' },
    ],
    kill: 'node',
  },
  {
    name: '2 nodes x 2 workers (WORKERS=2) behind nginx, clocks +10 s / -7 s',
    nodes: [
      { name: 'node-a', skew: '+10s', workers: 2 },
      { name: 'node-b', skew: '-7s', workers: 2 },
    ],
    kill: 'worker',
  },
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rand = (n: number) => Math.floor(Math.random() * n);
const pick = <T,>(xs: readonly T[]): T => xs[rand(xs.length)]!;

async function admin(sql: string) {
  const c = new pg.Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable at ${TEST_PG_URL} (${(err as Error).message}). Start it or set TEST_DATABASE_URL.`);
  }
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

type Role = 'dispatcher' | 'hq' | 'rider';
type Transport = 'websocket' | 'polling';

interface Follower {
  name: string;
  role: Role;
  via: string;
  transport: Transport;
  socket: DispatchClientSocket;
  store: RowStore & { rows: Map<number, DeliveryRow> };
  centerIds: number[];
  /** Dispatchers and HQ run the dashboard's sync engine unchanged. */
  sync?: DeliverySync;
  /** Riders: their id and what their reloads repaired. */
  rider?: { riderId: number; repaired: { resync: number; snapshot: number; loaded: boolean } };
  connects: number;
  connectErrors: number;
  /** When the last delivery event and the last snapshot digest arrived (for failure reports). */
  lastEventAt: number;
  lastSnapshotAt: number;
  lastDisconnect: string;
}

/**
 * A rider's screen, as app/rider/use-rider-dispatch.ts keeps it (that one is a React hook):
 * events from the private room merge in; on every (re)connect, when the rider's private
 * snapshot differs from what is held, and when the server hints that events between nodes were
 * interrupted, the rider's list is loaded again.
 */
function followRider(socket: DispatchClientSocket, store: RowStore, riderId: number) {
  const repaired = { resync: 0, snapshot: 0, loaded: false };
  let loaded = false;
  const load = async (layer: 'resync' | 'snapshot') => {
    try {
      const rows = await request(socket, 'deliveries:mine', {}, 10_000);
      const n = store.apply(rows);
      if (loaded) repaired[layer] += n;
      loaded = repaired.loaded = true;
    } catch {
      // the next connect or snapshot tries again
    }
  };
  for (const e of DELIVERY_EVENTS) socket.on(e, (row: DeliveryRow) => void store.apply([row]));
  socket.on('deliveries:snapshot', (snap: DeliverySnapshot) => {
    if (snap.riderId !== riderId) return;
    const mine = [...store.values()].filter((r) => r.riderId === riderId && r.centerId === snap.centerId);
    if (rowsToRepair(snap, (seq) => store.get(seq), mine).length > 0) void load('snapshot');
  });
  socket.on('connect', () => void load('resync'));
  socket.on('deliveries:resync_hint', () => void load('resync'));
  return repaired;
}

describe.each(TOPOLOGIES)('cluster chaos: $name', (topology) => {
  const dbName = `dd_cluster_chaos_${process.pid}_${Math.random().toString(36).slice(2, 7)}`;
  const dbUrl = (() => {
    const u = new URL(TEST_PG_URL);
    u.pathname = `/${dbName}`;
    return u.toString();
  })();
  let database: Database | undefined;
  let truthDb: pg.Pool | undefined;
  let redis: PrivateRedis | undefined;
  let nginx: Nginx | undefined;
  const nodes: ServerNode[] = [];
  const followers: Follower[] = [];
  const desks: { via: string; centerId: number; socket: DispatchClientSocket }[] = [];
  let centerIds: number[] = [];
  const tokens = new Map<string, string>();
  const riders: { riderId: number; centerId: number; email: string }[] = [];

  beforeAll(async () => {
    requireTool('nginx', 'Debian: apt-get install -y nginx');
    requireTool('redis-server', 'Debian: apt-get install -y redis-server');
    if (topology.nodes.some((n) => n.skew)) requireTool('faketime', 'Debian: apt-get install -y faketime');
    const [nginxPort, redisPort, ...nodePorts] = await freePortsIn(PORT_RANGE[0], PORT_RANGE[1], topology.nodes.length + 2);

    // One database, migrated and seeded once; the nodes start on it with DEMO_SEED=off.
    await admin(`CREATE DATABASE ${dbName}`);
    database = await openDatabase({ databaseUrl: dbUrl, dataDir: '' });
    await applyMigrations(database.pool);
    await seedDemo(database.prisma, { password: PASSWORD, deliveries: 150, ridersPerCenter: 8 });
    const prisma = database.prisma;
    centerIds = (await prisma.center.findMany({ orderBy: { id: 'asc' }, select: { id: true } })).map((c) => c.id);
    const hash = await hashPassword(PASSWORD);
    for (const centerId of centerIds) {
      await prisma.user.create({
        data: { email: `dispatch-${centerId}@chaos.local`, name: `Dispatcher ${centerId}`, role: 'dispatcher', passwordHash: hash, memberships: { create: { centerId } } },
      });
      const free = await prisma.rider.findMany({ where: { centerId, userId: null }, orderBy: { id: 'asc' }, take: RIDERS_PER_CENTER });
      for (const r of free) {
        const email = `rider-${r.id}@chaos.local`;
        const u = await prisma.user.create({
          data: { email, name: r.name, role: 'rider', passwordHash: hash, memberships: { create: { centerId } } },
        });
        await prisma.rider.update({ where: { id: r.id }, data: { userId: u.id, status: 'idle' } });
        riders.push({ riderId: r.id, centerId, email });
      }
    }
    truthDb = new pg.Pool({ connectionString: dbUrl, max: 2 });
    truthDb.on('error', () => undefined); // DROP DATABASE ... WITH (FORCE) ends idle connections

    redis = await startPrivateRedis(redisPort!);
    const env = {
      NODE_ENV: 'production',
      DATABASE_URL: dbUrl,
      REDIS_URL: redis.url,
      SESSION_SECRET: SECRET,
      SERVE_PAGES: 'off',
      DEMO_SEED: 'off',
      // Every change comes from the commands driven below, so the traffic can be stopped before
      // clients are compared with the database. (A running cluster's simulator cannot be stopped
      // from outside, and a database that keeps moving cannot be compared with at an instant: one
      // run with it on ended with 8 rows in flight at the deadline, events still arriving.)
      SIMULATOR: 'off',
      SNAPSHOT_INTERVAL_MS: String(SNAPSHOT_INTERVAL_MS),
      LOG_LEVEL: 'warn',
    };
    topology.nodes.forEach((spec, i) => nodes.push(createServerNode({ ...spec, port: nodePorts[i]! }, env)));
    await Promise.all(nodes.map((n) => n.start()));
    nginx = await startNginx(nginxPort!, nodes.map((n) => `127.0.0.1:${n.spec.port}`));
  }, 120_000);

  afterAll(async () => {
    for (const f of followers) {
      f.sync?.stop();
      f.socket.disconnect();
    }
    for (const d of desks) d.socket.disconnect();
    await nginx?.stop();
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
    await truthDb?.end();
    await database?.close();
    await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  }, 60_000);

  async function tokenFor(email: string): Promise<string> {
    const known = tokens.get(email);
    if (known) return known;
    const res = await fetch(`${nginx!.url}/api/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    if (!res.ok) throw new Error(`token for ${email}: ${res.status} ${await res.text()}`);
    const { token } = (await res.json()) as { token: string };
    tokens.set(email, token);
    return token;
  }

  /** Through nginx, each client gets its own source address (nginx hashes it: one client, one node). */
  let nextAddress = 2;
  function connect(base: string, token: string, transport: Transport): DispatchClientSocket {
    const localAddress = `127.0.0.${nextAddress++}`;
    const options = {
      transports: [transport],
      forceNew: true,
      auth: { token },
      reconnectionDelay: 200,
      reconnectionDelayMax: 1000,
      randomizationFactor: 0.5,
      // WebSocket (ws) takes the source address directly, long-polling through its HTTP agent.
      localAddress,
      agent: new http.Agent({ keepAlive: true, localAddress }) as unknown as string,
    };
    return io(`${base}/dispatch`, options);
  }

  function addFollower(name: string, role: Role, via: string, transport: Transport, token: string, ids: number[], riderId?: number): Follower {
    const base = via === 'nginx' ? nginx!.url : nodes.find((n) => n.spec.name === via)!.url;
    const socket = connect(base, token, transport);
    const store = createRowStore();
    const f: Follower = { name, role, via, transport, socket, store, centerIds: ids, connects: 0, connectErrors: 0, lastEventAt: 0, lastSnapshotAt: 0, lastDisconnect: '' };
    socket.on('connect', () => (f.connects += 1));
    for (const e of DELIVERY_EVENTS) socket.on(e, () => (f.lastEventAt = Date.now()));
    socket.on('deliveries:snapshot', () => (f.lastSnapshotAt = Date.now()));
    socket.on('connect_error', (err) => {
      f.connectErrors += 1;
      f.lastDisconnect = `connect_error ${err.message}`;
    });
    socket.on('disconnect', (reason) => {
      f.lastDisconnect = reason;
      // The server closed it on purpose: Socket.IO does not retry that itself; the screens do.
      if (reason === 'io server disconnect') socket.connect();
    });
    if (role === 'rider') {
      f.rider = { riderId: riderId!, repaired: followRider(socket, store, riderId!) };
    } else {
      f.sync = createDeliverySync({
        socket,
        store,
        centers: { ids, all: role === 'hq' },
        fetchDelta: async (centerId, since) => {
          const url = `${base}/api/centers/${centerId}/deliveries${since ? `?since=${encodeURIComponent(since)}` : ''}`;
          const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
          if (!res.ok) throw new Error(`poll ${res.status}`);
          return (await res.json()) as DeliverySyncResponse;
        },
        pollAfterMs: 2000,
        pollEveryMs: 2000,
      });
    }
    followers.push(f);
    return f;
  }

  interface TruthRow {
    status: string;
    riderId: number | null;
    version: number;
    centerId: number;
    modDate: Date;
    listed: boolean;
  }
  /** Every delivery, and whether the center list shows it (active, or created in the last 24 h). */
  async function readTruth(): Promise<Map<number, TruthRow>> {
    const { rows } = await truthDb!.query<TruthRow & { deliverySeq: number }>(
      `SELECT "deliverySeq", status, "riderId", version, "centerId", "modDate",
              (status IN ('waiting','assigned','picked_up') OR "createdAt" >= now() - interval '24 hours') AS listed
       FROM "Delivery"`,
    );
    return new Map(rows.map((r) => [r.deliverySeq, r]));
  }

  /** Rows a client holds wrongly (status, rider or version differ) or lacks, with examples. */
  function diff(f: Follower, truth: Map<number, TruthRow>): { count: number; clockInverted: number; examples: string[] } {
    const examples: string[] = [];
    let bad = 0;
    let clockInverted = 0;
    for (const r of f.store.values()) {
      const w = truth.get(r.deliverySeq);
      if (!w || w.status !== r.status || w.riderId !== r.riderId || w.version !== r.version) {
        bad += 1;
        // The database's row is newer by version but carries an older modDate (a slower clock).
        if (w && w.version > r.version && w.modDate.getTime() < Date.parse(r.modDate)) clockInverted += 1;
        if (examples.length < 5) examples.push(`#${r.deliverySeq} held v${r.version} ${r.status} rider ${r.riderId} / db ${w ? `v${w.version} ${w.status} rider ${w.riderId}` : 'none'}`);
      }
    }
    for (const [seq, w] of truth) {
      const shouldHold = f.rider ? w.riderId === f.rider.riderId && (isCarried(w.status as DeliveryRow['status']) || w.listed) : f.centerIds.includes(w.centerId) && w.listed;
      if (shouldHold && !f.store.get(seq)) {
        bad += 1;
        if (examples.length < 8) examples.push(`#${seq} missing / db v${w.version} ${w.status} rider ${w.riderId}`);
      }
    }
    return { count: bad, clockInverted, examples };
  }

  it(
    `every client equals the database after ${MIN_CHANGES}+ changes across nodes, a ${topology.kill} killed, Redis restarted and skewed clocks`,
    async () => {
      const hqToken = await tokenFor('hq@demo.local');
      const nodeNames = nodes.map((n) => n.spec.name);

      // Followers: dispatchers of one center each, HQ on all, riders in their private rooms.
      for (const [ci, centerId] of centerIds.entries()) {
        const token = await tokenFor(`dispatch-${centerId}@chaos.local`);
        for (let i = 0; i < DISPATCHERS_PER_CENTER; i++) {
          const via = i === DISPATCHERS_PER_CENTER - 1 ? nodeNames[ci % nodeNames.length]! : 'nginx';
          addFollower(`dispatcher-c${centerId}-${i}`, 'dispatcher', via, i === 2 ? 'polling' : 'websocket', token, [centerId]);
        }
        // Command desks of this center's dispatcher: one straight to every node, one through nginx.
        for (const via of [...nodeNames, 'nginx']) {
          const base = via === 'nginx' ? nginx!.url : nodes.find((n) => n.spec.name === via)!.url;
          desks.push({ via, centerId, socket: connect(base, token, 'websocket') });
        }
      }
      for (let i = 0; i < HQ_CLIENTS; i++) {
        addFollower(`hq-${i}`, 'hq', i === 2 ? nodeNames[1 % nodeNames.length]! : 'nginx', i === 1 ? 'polling' : 'websocket', hqToken, centerIds);
      }
      for (const [i, r] of riders.entries()) {
        addFollower(`rider-${r.riderId}`, 'rider', 'nginx', i % 3 === 1 ? 'polling' : 'websocket', await tokenFor(r.email), [r.centerId], r.riderId);
      }
      const riderSockets = new Map(followers.filter((f) => f.rider).map((f) => [f.rider!.riderId, f.socket]));

      const notReady = () => [
        ...followers
          .filter((f) => !f.socket.connected || (f.rider ? !f.rider.repaired.loaded : f.store.rows.size === 0 || f.sync?.status().link !== 'live'))
          .map((f) => `${f.name} (${f.via}, ${f.transport}, connected=${f.socket.connected}, ${f.connects} connects, ${f.connectErrors} connect errors, last: ${f.lastDisconnect || 'none'})`),
        ...desks.filter((d) => !d.socket.connected).map((d) => `desk ${d.via} c${d.centerId}`),
      ];
      const loadDeadline = Date.now() + 60_000;
      while (notReady().length > 0) {
        if (Date.now() > loadDeadline) throw new Error(`clients did not connect and load in 60 s: ${notReady().join(', ')}`);
        await sleep(100);
      }

      // ---- the traffic: orders created and walked through their life, each step on another node
      const startEventId = Number((await truthDb!.query<{ id: string | null }>('SELECT max(id) AS id FROM "DeliveryEvent"')).rows[0]!.id ?? 0);
      const changes = async () =>
        Number((await truthDb!.query<{ n: string }>('SELECT count(*) AS n FROM "DeliveryEvent" WHERE id > $1', [startEventId])).rows[0]!.n);
      const stats = { created: 0, steps: 0, retried: 0, gaveUp: 0, rejected: {} as Record<string, number> };
      let running = true;

      type Candidate = { via: string; socket: DispatchClientSocket };
      /** One command, retried (same idempotency key) on another connected socket if a node is gone. */
      async function step(event: 'delivery:assign' | 'delivery:pick_up' | 'delivery:deliver' | 'delivery:cancel', payload: Record<string, unknown>, candidates: Candidate[], avoid: string | undefined): Promise<{ row: DeliveryRow; via: string } | null> {
        for (let attempt = 0; attempt < 12; attempt++) {
          const live = candidates.filter((c) => c.socket.connected);
          const preferred = live.filter((c) => c.via !== avoid);
          const c = preferred.length ? pick(preferred) : live.length ? pick(live) : undefined;
          if (!c) {
            await sleep(300);
            continue;
          }
          try {
            const row = await request(c.socket, event, payload, 5000);
            stats.steps += 1;
            return { row, via: c.via };
          } catch (err) {
            const code = (err as { code?: string }).code;
            if (code === undefined || code === 'unavailable' || code === 'rate_limited') {
              stats.retried += 1;
              await sleep(200);
              continue;
            }
            stats.rejected[`${event} ${code}`] = (stats.rejected[`${event} ${code}`] ?? 0) + 1;
            return null;
          }
        }
        stats.gaveUp += 1;
        return null;
      }

      async function createOrder(centerId: number, token: string): Promise<DeliveryRow | null> {
        const orderNo = `CH${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`.toUpperCase();
        const body = JSON.stringify({ centerId, orderNo, shopName: 'Chaos Shop', shopAddress: '1 Test St', customerName: 'C', customerAddress: '2 Test St', items: '1x test', totalWon: 1000, lat: 37.5, lng: 127 });
        for (let attempt = 0; attempt < 8; attempt++) {
          const base = pick([nginx!.url, ...nodes.map((n) => n.url)]);
          try {
            const res = await fetch(`${base}/api/orders`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(5000) });
            if (res.status === 201) {
              stats.created += 1;
              return ((await res.json()) as { delivery: DeliveryRow }).delivery;
            }
            if (res.status === 409) return null; // an earlier attempt went through after all
            stats.retried += 1;
          } catch {
            stats.retried += 1;
          }
          await sleep(300);
        }
        stats.gaveUp += 1;
        return null;
      }

      async function driver(n: number) {
        let i = 0;
        while (running) {
          const centerId = centerIds[(n + i++) % centerIds.length]!;
          const token = await tokenFor(`dispatch-${centerId}@chaos.local`);
          const row = await createOrder(centerId, token);
          if (!row) continue;
          const rider = pick(riders.filter((r) => r.centerId === centerId));
          const centerDesks = desks.filter((d) => d.centerId === centerId);
          const key = `chaos-${row.deliverySeq}`;
          const assigned = await step('delivery:assign', { deliverySeq: row.deliverySeq, riderId: rider.riderId, idempotencyKey: `${key}-a` }, centerDesks, undefined);
          if (!assigned) continue;
          await sleep(10 + rand(40));
          // The rider acts from the phone (through nginx) or a dispatcher acts for them on another node.
          const actors = [...centerDesks, { via: 'rider', socket: riderSockets.get(rider.riderId)! }];
          const picked = await step('delivery:pick_up', { deliverySeq: row.deliverySeq, idempotencyKey: `${key}-p` }, actors, assigned.via);
          if (!picked) continue;
          await sleep(10 + rand(40));
          if (Math.random() < 0.1) await step('delivery:cancel', { deliverySeq: row.deliverySeq, reason: 'chaos', idempotencyKey: `${key}-c` }, centerDesks, picked.via);
          else await step('delivery:deliver', { deliverySeq: row.deliverySeq, idempotencyKey: `${key}-d` }, actors, picked.via);
          await sleep(20 + rand(60));
        }
      }
      const drivers = Array.from({ length: DRIVERS }, (_, n) => driver(n));

      // ---- the faults
      const t0 = Date.now();
      const victim = nodes[1 % nodes.length]!;
      let nodeKills = 0;
      let redisRestarts = 0;
      let transportKills = 0;
      let killedAt: number | undefined;
      let redisKilledAt: number | undefined;
      let faultsDone: Promise<void> = Promise.resolve();
      let victimBack = false;
      let faultError: Error | undefined;
      /** Fault steps that take a while (a restart) run one after another beside the loop. */
      const later = (f: () => Promise<void>) => {
        faultsDone = faultsDone.then(f).catch((err: unknown) => {
          faultError ??= err as Error;
        });
      };
      const faultLog: string[] = [];
      let total = 0;
      while (true) {
        const elapsed = Date.now() - t0;
        if (killedAt === undefined && elapsed >= KILL_AT_MS) {
          killedAt = elapsed;
          if (topology.kill === 'node') {
            await victim.kill();
            nodeKills += 1;
            faultLog.push(`${(elapsed / 1000).toFixed(1)}s SIGKILL ${victim.spec.name}`);
            later(async () => {
              await sleep(KILL_DOWN_MS);
              await victim.start();
              victimBack = true;
              faultLog.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${victim.spec.name} started again`);
            });
          } else {
            const leader = victim.pid()!;
            const procs = descendants(leader).filter((p) => p.cmd.includes('server/index.ts'));
            const primary = procs.find((p) => !procs.some((q) => q.pid === p.ppid))!;
            const workers = procs.filter((p) => p.ppid === primary.pid);
            if (workers.length === 0) throw new Error(`${victim.spec.name}: no worker processes found under pid ${leader}`);
            const w = pick(workers);
            process.kill(w.pid, 'SIGKILL');
            nodeKills += 1;
            faultLog.push(`${(elapsed / 1000).toFixed(1)}s SIGKILL worker ${w.pid} of ${victim.spec.name}`);
            later(async () => {
              const deadline = Date.now() + 30_000;
              while (descendants(primary.pid).filter((p) => p.ppid === primary.pid && p.pid !== w.pid).length < workers.length) {
                if (Date.now() > deadline) throw new Error(`${victim.spec.name}: the primary did not replace worker ${w.pid} in 30 s`);
                await sleep(200);
              }
              victimBack = true;
              faultLog.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${victim.spec.name} has ${workers.length} workers again`);
            });
          }
        }
        // Redis goes down once the killed node serves again: a node does not start without Redis.
        if (redisKilledAt === undefined && elapsed >= REDIS_AT_MS && victimBack) {
          redisKilledAt = elapsed;
          await redis!.kill();
          faultLog.push(`${(elapsed / 1000).toFixed(1)}s SIGKILL redis-server`);
          later(async () => {
            await sleep(REDIS_DOWN_MS);
            await redis!.start();
            redisRestarts += 1;
            faultLog.push(`${((Date.now() - t0) / 1000).toFixed(1)}s redis-server started again (empty)`);
          });
        }
        const target = pick(followers);
        if (target.socket.connected && Math.random() < 0.5) {
          target.socket.io.engine.close(); // the transport dies without a goodbye
          transportKills += 1;
        }
        total = await changes();
        if (elapsed >= MIN_RUN_MS && total >= MIN_CHANGES && redisKilledAt !== undefined) break;
        if (elapsed > MAX_RUN_MS) break; // reported below: too few changes or a fault that never happened
        await sleep(700);
      }
      const runMs = Date.now() - t0;
      await faultsDone;
      running = false;
      await Promise.all(drivers);
      total = await changes();

      // ---- convergence: one snapshot period plus 5 s
      const stopAt = Date.now();
      const limitMs = SNAPSHOT_INTERVAL_MS + 5000;
      let divergent: number[] = [];
      let truth = await readTruth();
      while (true) {
        truth = await readTruth();
        divergent = followers.map((f) => diff(f, truth).count);
        if (divergent.every((d) => d === 0) || Date.now() - stopAt > limitMs) break;
        await sleep(250);
      }
      const convergedMs = Date.now() - stopAt;
      const divergentRows = divergent.reduce((a, b) => a + b, 0);
      const clockInverted = followers.reduce((n, f) => n + diff(f, truth).clockInverted, 0);
      const dead = nodes.filter((n) => !n.running());

      const repaired: Record<RepairLayer, number> = { recovery: 0, resync: 0, snapshot: 0, polling: 0 };
      for (const f of followers) {
        if (f.sync) for (const k of Object.keys(repaired) as RepairLayer[]) repaired[k] += f.sync.status().repaired[k];
        if (f.rider) {
          repaired.resync += f.rider.repaired.resync;
          repaired.snapshot += f.rider.repaired.snapshot;
        }
      }
      const polling = followers.filter((f) => f.transport === 'polling');
      const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
      console.log(
        [
          `cluster chaos: ${topology.name}`,
          row(['changes', 'clients', 'node/worker kills', 'Redis restarts', 'transport kills', 'recovery', 'resync', 'snapshot', 'polling', 'divergent rows', 'convergence']),
          row(['---', '---', '---', '---', '---', '---', '---', '---', '---', '---', '---']),
          row([total, followers.length, nodeKills, redisRestarts, transportKills, repaired.recovery, repaired.resync, repaired.snapshot, repaired.polling, divergentRows, `${(convergedMs / 1000).toFixed(1)} s (limit ${limitMs / 1000} s)`]),
          `  run ${(runMs / 1000).toFixed(1)} s; faults: ${faultLog.join('; ')}`,
          `  nodes alive at the end: ${nodes.length - dead.length}/${nodes.length}${dead.length ? ` (exited: ${dead.map((n) => n.spec.name).join(', ')})` : ''}`,
          ...(divergentRows ? [`  of the divergent rows, ${clockInverted} are held at an older version whose modDate is newer than the database's (clock order)`] : []),
          `  traffic: ${stats.created} orders, ${stats.steps} commands, ${stats.retried} retried on another node, ${stats.gaveUp} given up, rejected ${JSON.stringify(stats.rejected)}`,
          `  clients: ${followers.filter((f) => f.role === 'dispatcher').length} dispatchers, ${followers.filter((f) => f.role === 'hq').length} HQ, ${followers.filter((f) => f.role === 'rider').length} riders; ` +
            `${followers.filter((f) => f.via === 'nginx').length} through nginx, ${followers.filter((f) => f.via !== 'nginx').length} straight to a node`,
          `  long-polling through nginx: ${polling.map((f) => `${f.name} ${f.connects} connects/${f.connectErrors} errors`).join(', ')}`,
        ].join('\n'),
      );
      for (const [i, f] of followers.entries()) {
        if (divergent[i] === 0) continue;
        const d = diff(f, truth);
        const ago = (t: number) => (t ? `${((Date.now() - t) / 1000).toFixed(1)} s ago` : 'never');
        console.log(
          `diverged ${f.name} (${f.role} via ${f.via}, ${f.transport}): ${d.count} rows, connected=${f.socket.connected} id=${f.socket.id} recovered=${f.socket.recovered} last disconnect=${f.lastDisconnect || 'none'}, ` +
            `${f.connects} connects, last event ${ago(f.lastEventAt)}, last snapshot ${ago(f.lastSnapshotAt)}, sync ${JSON.stringify(f.sync?.status() ?? f.rider?.repaired)}\n  ${d.examples.join('\n  ')}`,
        );
      }
      if (divergentRows > 0 || dead.length > 0) for (const n of nodes) console.log(n.tail());

      expect(dead.map((n) => n.spec.name), 'nodes that exited by themselves during the run').toEqual([]);
      expect(faultError?.message, 'a fault step failed').toBeUndefined();
      expect(total).toBeGreaterThanOrEqual(MIN_CHANGES);
      expect(nodeKills).toBe(1);
      expect(redisRestarts).toBe(1);
      expect(divergentRows, `divergent rows per client: ${divergent.join(',')}`).toBe(0);
      expect(convergedMs).toBeLessThanOrEqual(limitMs + 1000);
      // Long-polling through nginx only works if every request of a session reaches its node. A
      // transport killed in the run's last step is still coming back (a backoff of up to 1 s and a
      // handshake through nginx): give it a few seconds, not forever.
      const connectBy = Date.now() + 5000;
      while (polling.some((f) => !f.socket.connected) && Date.now() < connectBy) await sleep(100);
      for (const f of polling) expect(f.socket.connected, `${f.name} (long-polling) is connected (last: ${f.lastDisconnect || 'none'}, ${f.connects} connects)`).toBe(true);
      // Commands kept flowing: a dead node's share was retried elsewhere, nothing was refused.
      expect(stats.gaveUp).toBe(0);
    },
    300_000,
  );
});
