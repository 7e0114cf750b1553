/**
 * The chaos test: many clients in three centers follow thousands of simulated changes while
 * transports die, one client stays offline for 30 s (polling the REST API meanwhile), the server
 * skips events to random clients and is restarted once mid-run. Afterwards every client's store
 * must equal the database for its centers, with 0 divergent rows, within one snapshot interval
 * plus 5 s. It prints how many rows each repair layer fixed.
 *
 * Loopback only, bounded in time, owns its database (created and dropped here).
 */
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRowStore, type DeliverySyncResponse } from '../../protocol';
import { createDeliverySync, type DeliverySync, type DispatchClientSocket, type RepairLayer } from '../../app/lib/delivery-sync';
import { TEST_PG_URL } from '../support/backends';

const CLIENTS_PER_CENTER = 17;
const HQ_CLIENTS = 3;
const MIN_CHANGES = 2000;
const SNAPSHOT_INTERVAL_MS = 3000;
const OFFLINE_MS = 30_000;
const RESTART_AT_MS = 14_000;
const MIN_RUN_MS = OFFLINE_MS + 8_000;
const MAX_RUN_MS = 120_000;
const SECRET = 'chaos-secret-0123456789abcdefghijklmnop';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rand = (n: number) => Math.floor(Math.random() * n);

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function admin(sql: string) {
  const c = new pg.Client({ connectionString: TEST_PG_URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

interface Client {
  name: string;
  centerIds: number[];
  socket: DispatchClientSocket;
  store: ReturnType<typeof createRowStore>;
  sync: DeliverySync;
}

describe('chaos: no event is lost for good', () => {
  const dbName = `dd_chaos_${process.pid}`;
  const dbUrl = (() => {
    const u = new URL(TEST_PG_URL);
    u.pathname = `/${dbName}`;
    return u.toString();
  })();
  let port: number;
  let server: ChildProcess | undefined;
  let lostPackets = 0;
  const clients: Client[] = [];
  let db: pg.Pool;

  function startServer(): Promise<ChildProcess> {
    const child = fork(path.join(import.meta.dirname, 'chaos-server.ts'), [], {
      execArgv: ['--import', 'tsx'],
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'production',
        DATABASE_URL: dbUrl,
        PORT: String(port),
        SESSION_SECRET: SECRET,
        SNAPSHOT_INTERVAL_MS: String(SNAPSHOT_INTERVAL_MS),
        SIMULATOR: 'on',
        SIMULATOR_ORDERS_PER_MIN: '900',
        SIMULATOR_TICK_MS: '200',
        SIMULATOR_PACE: '0.02',
        CHAOS_LOSS_RATE: '0.03',
        DEMO_PASSWORD: 'demo',
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('message', (m: { type?: string; lost?: number }) => {
      if (m.type === 'exit' || m.type === 'simulator-stopped') lostPackets += m.lost ?? 0;
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('chaos server did not start in 60 s')), 60_000);
      child.on('message', (m: { type?: string }) => {
        if (m.type === 'ready') {
          clearTimeout(timer);
          resolve(child);
        }
      });
      child.once('exit', (code) => reject(new Error(`chaos server exited early with ${code}`)));
    });
  }

  function stopServer(child: ChildProcess): Promise<void> {
    return new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  async function tokenFor(email: string): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${port}/api/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: 'demo' }),
    });
    if (!res.ok) throw new Error(`token for ${email}: ${res.status}`);
    return ((await res.json()) as { token: string }).token;
  }

  beforeAll(async () => {
    await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin(`CREATE DATABASE ${dbName}`);
    port = await freePort();
    server = await startServer();
    db = new pg.Pool({ connectionString: dbUrl, max: 2 });
    db.on('error', () => undefined); // the final DROP DATABASE ... WITH (FORCE) ends idle connections
  }, 90_000);

  afterAll(async () => {
    for (const c of clients) {
      c.sync.stop();
      c.socket.disconnect();
    }
    if (server) await stopServer(server);
    await db?.end();
    await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  }, 60_000);

  /** The rows a client of these centers must hold: what the server lists for each center. */
  async function truth(centerIds: number[]): Promise<Map<number, { version: number; modDate: number; status: string }>> {
    const { rows } = await db.query<{ deliverySeq: number; version: number; modDate: Date; status: string }>(
      `SELECT "deliverySeq", version, "modDate", status FROM "Delivery"
       WHERE "centerId" = ANY($1) AND (status IN ('waiting','assigned','picked_up') OR "createdAt" >= now() - interval '24 hours')`,
      [centerIds],
    );
    return new Map(rows.map((r) => [r.deliverySeq, { version: r.version, modDate: r.modDate.getTime(), status: r.status }]));
  }

  /** Rows a client holds wrongly or lacks, with a few examples for the failure message. */
  async function diff(c: Client): Promise<{ count: number; examples: string[] }> {
    const want = await truth(c.centerIds);
    const held = [...c.store.values()].filter((r) => c.centerIds.includes(r.centerId));
    const examples: string[] = [];
    let bad = 0;
    for (const r of held) {
      const w = want.get(r.deliverySeq);
      if (!w || w.version !== r.version || w.status !== r.status || w.modDate !== Date.parse(r.modDate)) {
        bad += 1;
        if (examples.length < 5) examples.push(`#${r.deliverySeq} c${r.centerId} held v${r.version} ${r.status} ${r.modDate} / db ${w ? `v${w.version} ${w.status} ${new Date(w.modDate).toISOString()}` : 'none'}`);
      }
      want.delete(r.deliverySeq);
    }
    for (const [seq, w] of want) if (examples.length < 8) examples.push(`#${seq} missing / db v${w.version} ${w.status} ${new Date(w.modDate).toISOString()}`);
    return { count: bad + want.size, examples }; // wrong or stale rows, plus rows the client never got
  }
  const divergence = async (c: Client) => (await diff(c)).count;

  it(
    `${3 * CLIENTS_PER_CENTER + HQ_CLIENTS} clients converge to the database after ${MIN_CHANGES}+ changes, kills, an offline client, lost packets and a restart`,
    async () => {
      const centerIds = (await db.query<{ id: number }>('SELECT id FROM "Center" ORDER BY id')).rows.map((r) => r.id);
      expect(centerIds).toHaveLength(3);
      const hqToken = await tokenFor('hq@demo.local');
      const runStartedAt = new Date();

      const newClient = (name: string, ids: number[], all: boolean): Client => {
        const socket: DispatchClientSocket = io(`http://127.0.0.1:${port}/dispatch`, {
          transports: ['websocket'],
          forceNew: true,
          auth: { token: hqToken },
          reconnectionDelay: 200,
          reconnectionDelayMax: 1000,
          randomizationFactor: 0.5,
        });
        const store = createRowStore();
        const sync = createDeliverySync({
          socket,
          store,
          centers: { ids, all },
          fetchDelta: async (centerId, sinceTx) => {
            const url = `http://127.0.0.1:${port}/api/centers/${centerId}/deliveries${sinceTx !== undefined ? `?sinceTx=${sinceTx}` : ''}`;
            const res = await fetch(url, { headers: { authorization: `Bearer ${hqToken}` } });
            if (!res.ok) throw new Error(`poll ${res.status}`);
            return (await res.json()) as DeliverySyncResponse;
          },
          pollAfterMs: 2000,
          pollEveryMs: 2000,
        });
        return { name, centerIds: ids, socket, store, sync };
      };
      for (const id of centerIds) for (let i = 0; i < CLIENTS_PER_CENTER; i++) clients.push(newClient(`center${id}-${i}`, [id], false));
      for (let i = 0; i < HQ_CLIENTS; i++) clients.push(newClient(`hq-${i}`, centerIds, true));

      // Everyone loaded.
      const loadDeadline = Date.now() + 30_000;
      while (clients.some((c) => c.store.rows.size === 0 || c.sync.status().link !== 'live')) {
        if (Date.now() > loadDeadline) throw new Error('clients did not load in 30 s');
        await sleep(100);
      }

      // Faults.
      const t0 = Date.now();
      const offline = clients[rand(clients.length)]!;
      let kills = 0;
      let restarted = false;
      let offlineBack = false;
      offline.socket.io.reconnection(false);
      offline.socket.io.engine.close();
      const offlineUntil = t0 + OFFLINE_MS;

      const changes = async () =>
        Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM "DeliveryEvent" WHERE at >= $1', [runStartedAt])).rows[0]!.n);

      while (true) {
        const elapsed = Date.now() - t0;
        if (!offlineBack && Date.now() >= offlineUntil) {
          offline.socket.io.reconnection(true);
          offline.socket.connect();
          offlineBack = true;
        }
        if (!restarted && elapsed >= RESTART_AT_MS) {
          restarted = true;
          await stopServer(server!);
          server = await startServer();
        }
        const victim = clients[rand(clients.length)]!;
        if (victim !== offline && victim.socket.connected) {
          victim.socket.io.engine.close(); // transport dies without a goodbye
          kills += 1;
        }
        if (elapsed >= MIN_RUN_MS && offlineBack && restarted && (await changes()) >= MIN_CHANGES) break;
        if (elapsed > MAX_RUN_MS) throw new Error(`only ${await changes()} changes in ${MAX_RUN_MS} ms`);
        await sleep(700);
      }

      // Stop the traffic, then give the layers one snapshot interval plus 5 s.
      const stopped = new Promise<void>((resolve) =>
        server!.once('message', (m: { type?: string }) => m.type === 'simulator-stopped' && resolve()),
      );
      server!.send({ type: 'stop-simulator' });
      await stopped;
      const totalChanges = await changes();
      const stopAt = Date.now();
      const deadline = stopAt + SNAPSHOT_INTERVAL_MS + 5000;
      let divergent: number[] = [];
      while (true) {
        divergent = await Promise.all(clients.map(divergence));
        if (divergent.every((d) => d === 0) || Date.now() > deadline) break;
        await sleep(250);
      }
      const convergedMs = Date.now() - stopAt;

      const repaired: Record<RepairLayer, number> = { recovery: 0, resync: 0, snapshot: 0, polling: 0 };
      const outcomes = { recovered: 0, resynced: 0 };
      for (const c of clients) {
        const s = c.sync.status();
        for (const k of Object.keys(repaired) as RepairLayer[]) repaired[k] += s.repaired[k];
        if (s.lastReconnect) outcomes[s.lastReconnect.outcome] += 1;
      }
      const offlineStatus = offline.sync.status();
      const rowsHeld = clients.reduce((n, c) => n + c.store.rows.size, 0);
      console.log(
        [
          `chaos: ${clients.length} clients, ${totalChanges} changes, ${kills} transport kills, 1 server restart,`,
          `  1 client offline ${OFFLINE_MS / 1000}s (polling repaired ${offlineStatus.repaired.polling} rows for it), ~${lostPackets} events skipped by the server`,
          `  rows repaired by layer: connection recovery ${repaired.recovery}, resync ${repaired.resync}, snapshot ${repaired.snapshot}, polling ${repaired.polling}`,
          `  last reconnect: ${outcomes.recovered} recovered, ${outcomes.resynced} resynced; ${rowsHeld} rows held in all`,
          `  divergent rows after ${convergedMs} ms: ${divergent.reduce((a, b) => a + b, 0)} (limit ${SNAPSHOT_INTERVAL_MS + 5000} ms)`,
        ].join('\n'),
      );

      for (const [i, c] of clients.entries()) {
        if (divergent[i] === 0) continue;
        const d = await diff(c);
        console.log(`diverged ${c.name}: connected=${c.socket.connected} recovered=${c.socket.recovered} status=${JSON.stringify(c.sync.status())}\n  ${d.examples.join('\n  ')}`);
      }
      expect(totalChanges).toBeGreaterThanOrEqual(MIN_CHANGES);
      expect(divergent.filter((d) => d > 0).length, `clients with divergent rows: ${divergent.join(',')}`).toBe(0);
      expect(convergedMs).toBeLessThanOrEqual(SNAPSHOT_INTERVAL_MS + 5000 + 1000);
      // Every layer had work to do in this run.
      expect(repaired.resync).toBeGreaterThan(0);
      expect(repaired.snapshot).toBeGreaterThan(0);
      expect(offlineStatus.repaired.polling).toBeGreaterThan(0);
      expect(repaired.recovery).toBeGreaterThan(0);
    },
    240_000,
  );
});
