import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryRow } from '../../protocol';
import { connectTestRedis, TEST_REDIS_URL, unlinkPrefix } from '../support/adapters';
import { postgres, TEST_PG_URL } from '../support/backends';
import { startServerProcess, type LogLine, type ServerProcess } from '../support/server-process';

/**
 * `WORKERS=2` for real: the server entry started as its own process becomes a node:cluster
 * primary with two workers accepting on one port. Clients use HTTP long-polling only (every
 * request must reach the worker that holds the session, whichever worker the kernel gave its
 * connection to), commands on one worker reach clients of the other,
 * a killed worker is restarted and its jobs handed over, SIGTERM stops everything with exit 0.
 * Once with the cluster adapter (no Redis), once with the Redis Streams adapter and lease.
 */
const PASSWORD = 'workers-pass';

type Variant = { name: string; redis: boolean };
const VARIANTS: Variant[] = [
  { name: 'cluster adapter, no Redis', redis: false },
  { name: 'Redis Streams adapter and job lease', redis: true },
];

describe.each(VARIANTS)('WORKERS=2 with the $name', ({ redis }) => {
  let dispose: () => Promise<void>;
  let server: ServerProcess;
  let url: string;
  let dbUrl: string;
  const prefix = `dd-test-workers:${process.pid}:${randomBytes(3).toString('hex')}`;
  const sockets: Socket[] = [];
  let earlyAnswer: Promise<string>;
  const isLive = (l: LogLine) => l.msg === 'worker ready';
  const owners = () => server.logs.filter((l) => l.msg === 'this process now runs the cluster jobs');
  /** Processes whose last word on the jobs is that they run them (a lease may change hands). */
  const activeOwners = () => {
    const last = new Map<number, boolean>();
    for (const l of server.logs) {
      if (l.msg === 'this process now runs the cluster jobs') last.set(l.pid!, true);
      if (l.msg === 'this process no longer runs the cluster jobs') last.set(l.pid!, false);
    }
    return [...last].filter(([, on]) => on).map(([pid]) => pid);
  };

  beforeAll(async () => {
    const opened = await postgres.open();
    dispose = opened.dispose;
    // The child process migrates (nothing left to do) and seeds its own demo data.
    const u = new URL(TEST_PG_URL);
    u.pathname = `/${(await opened.db.prisma.$queryRaw<{ d: string }[]>`SELECT current_database() AS d`)[0]!.d}`;
    dbUrl = u.toString();
    server = startServerProcess({
      WORKERS: '2',
      DATABASE_URL: dbUrl,
      // With DATABASE_URL nothing is seeded unless asked for.
      DEMO_SEED: 'on',
      DEMO_PASSWORD: PASSWORD,
      SIMULATOR: 'on',
      SIMULATOR_ORDERS_PER_MIN: '6',
      JOB_LEASE_MS: '3000',
      SESSION_SECRET: 'workers-test-secret-0123456789abcdef',
      // One spare (the default), and no new one during this suite: the first worker killed is
      // replaced by the spare, the later ones are restarted.
      SPARE_WORKERS: '1',
      SPARE_RESTART_MS: '600000',
      ...(redis ? { REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: prefix } : {}),
      // The primary and its workers share one CPU, as on a busy machine: hand-over races (a
      // process still reading a socket it passed on) show there, and rarely with a core each.
    }, { prefix: ['taskset', '-c', '0'] });
    const listening = await server.waitForLog((l) => l.msg === 'cluster listening', 60_000, 'cluster listening');
    url = `http://127.0.0.1:${String(listening.port)}`;
    // A client that comes while the second worker is still starting: it must be answered (here,
    // refused for having no session), not left with a worker loading its code.
    earlyAnswer = new Promise<string>((resolve) => {
      const s = io(`${url}/dispatch`, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 30_000 });
      sockets.push(s);
      s.once('connect', () => resolve('connected'));
      s.once('connect_error', (err) => resolve(err.message));
    });
    await server.waitForLog(() => server.logs.filter(isLive).length >= 2, 60_000, 'two workers ready');
  });

  afterAll(async () => {
    for (const s of sockets) s.close();
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    if (redis) {
      const r = await connectTestRedis();
      await unlinkPrefix(r, prefix);
      r.disconnect();
    }
    await dispose?.();
  });

  async function token(email: string): Promise<string> {
    const res = await fetch(`${url}/api/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }) });
    expect(res.status).toBe(200);
    return ((await res.json()) as { token: string }).token;
  }

  function pollingClient(t: string): Promise<Socket> {
    const s = io(`${url}/dispatch`, { transports: ['polling'], forceNew: true, auth: { token: t }, reconnectionDelay: 200, reconnectionDelayMax: 500 });
    sockets.push(s);
    return new Promise((resolve, reject) => {
      s.once('connect', () => resolve(s));
      s.once('connect_error', reject);
    });
  }

  it('answers a client that connected while a worker was starting', async () => {
    expect(await earlyAnswer).toBe('unauthorized');
  });

  it('serves long-polling clients on both workers and carries a command on one to the other', async () => {
    const hq = await token('hq@demo.local');
    // The kernel picks the worker of each new session: open sessions until both workers hold one.
    // The session id names its worker (cluster/routing.ts).
    const byWorker = new Map<string, Socket>();
    for (let k = 0; k < 30 && byWorker.size < 2; k++) {
      const s = await pollingClient(hq);
      byWorker.set(/w(\d+)$/.exec(s.io.engine.id)![1]!, s);
    }
    expect(byWorker.size).toBe(2);
    const [a, b] = [...byWorker.values()] as [Socket, Socket];
    // Every request of a session reaches its worker: a request that reached the other one would
    // be refused (unknown session) and the client would start a new session, with a new id.
    const ids = [a, b].map((s) => s.io.engine.id);
    let disconnects = 0;
    for (const s of [a, b]) s.on('disconnect', () => (disconnects += 1));
    for (const s of [a, b]) expect(((await s.timeout(5000).emitWithAck('center:join', { all: true })) as { data?: unknown }).data).toBeDefined();
    const sync = (await a.timeout(5000).emitWithAck('deliveries:sync', { centerId: 1 })) as { data: { rows: DeliveryRow[] } };
    const waiting = sync.data.rows.find((r) => r.status === 'waiting' || r.status === 'assigned');
    expect(waiting).toBeDefined();
    const seen = [a, b].map((s) => new Promise<DeliveryRow>((resolve) => s.on('delivery:cancelled', (r: DeliveryRow) => r.deliverySeq === waiting!.deliverySeq && resolve(r))));
    const ack = (await b.timeout(5000).emitWithAck('delivery:cancel', { deliverySeq: waiting!.deliverySeq, reason: 'workers test' })) as { data?: DeliveryRow; error?: unknown };
    expect(ack.error).toBeUndefined();
    const [ra, rb] = await Promise.all(seen);
    expect(ra?.version).toBe(ack.data!.version);
    expect(rb?.version).toBe(ack.data!.version);
    // Both transports stayed on HTTP long-polling the whole time, in the same sessions.
    for (const s of [a, b]) expect(s.io.engine.transport.name).toBe('polling');
    expect([a, b].map((s) => s.io.engine.id)).toEqual(ids);
    expect(disconnects).toBe(0);
  });

  it('upgrades long-polling sessions of both workers to WebSocket, whichever worker the upgrade reached', async () => {
    const hq = await token('hq@demo.local');
    const byWorker = new Map<string, Socket>();
    for (let k = 0; k < 30 && byWorker.size < 2; k++) {
      const s = io(`${url}/dispatch`, { transports: ['polling', 'websocket'], forceNew: true, reconnection: false, auth: { token: hq } });
      sockets.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('connect', () => resolve());
        s.once('connect_error', reject);
      });
      const id = /w(\d+)$/.exec(s.io.engine.id)![1]!;
      if (byWorker.has(id)) s.close();
      else byWorker.set(id, s);
    }
    expect(byWorker.size).toBe(2);
    for (const s of byWorker.values()) {
      const id = s.io.engine.id;
      if (s.io.engine.transport.name !== 'websocket') await new Promise<void>((resolve) => s.io.engine.once('upgrade', () => resolve()));
      expect(s.io.engine.transport.name).toBe('websocket');
      expect(((await s.timeout(5000).emitWithAck('center:join', { all: true })) as { data?: unknown }).data).toBeDefined();
      expect(s.io.engine.id).toBe(id);
      expect(s.connected).toBe(true);
    }
  });

  it("greets each websocket client with its own hello (an emit to one socket stays on its worker)", async () => {
    const hq = await token('hq@demo.local');
    const clients = Array.from({ length: 6 }, () => io(`${url}/dispatch`, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: hq } }));
    sockets.push(...clients);
    const hellos = await Promise.all(
      clients.map(
        (s) =>
          new Promise<{ user: { email: string }; protocolVersion: number }>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error('no hello')), 10_000);
            s.once('hello', (h: { user: { email: string }; protocolVersion: number }) => (clearTimeout(timer), resolve(h)));
          }),
      ),
    );
    for (const h of hellos) expect(h.user.email).toBe('hq@demo.local');
    for (const s of clients) s.close();
  });

  it('answers every websocket client of a connect burst (no bytes lost between accepting and serving)', async () => {
    // When the primary handed every connection over, about 1 in 1,000 connects of a burst once
    // got its engine opened but its namespace CONNECT (or first command) read and dropped by the
    // primary: 1-5 of every 3,000. The workers now read each connection's first bytes themselves.
    const hq = await token('hq@demo.local');
    const total = 3000;
    const lost: number[] = [];
    const held: Socket[] = [];
    let next = 0;
    const one = async (k: number) => {
      const s = io(`${url}/dispatch`, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: hq }, localAddress: `127.0.0.${2 + (k % 19)}` } as Parameters<typeof io>[1]);
      held.push(s);
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no connect')), 10_000);
          s.once('connect', () => (clearTimeout(timer), resolve()));
          s.once('connect_error', (err) => (clearTimeout(timer), reject(err)));
        });
        await s.timeout(10_000).emitWithAck('center:join', { centerId: 1 });
      } catch {
        lost.push(k);
      }
    };
    try {
      await Promise.all(Array.from({ length: 50 }, async () => {
        while (next < total) await one(next++);
      }));
    } finally {
      for (const s of held) s.close();
    }
    expect(lost).toEqual([]);
  }, 120_000);

  it('holds a reconnect burst in the listen queue while no worker can accept, none dropped', async () => {
    // A reconnect storm: a killed worker's clients all come back within a second, faster than the
    // workers accept. With Node's default listen backlog (511) the kernel dropped every SYN past
    // it, and those clients waited for TCP's retransmission (1, 3, 7, 15 s) before they were even
    // seen. Frozen workers, 800 connects: all must be completed by the kernel, queued.
    const port = Number(new URL(url).port);
    const total = 800;
    const workers = server.logs.filter(isLive).map((l) => Number(l.worker));
    expect(workers).toHaveLength(2);
    const conns: net.Socket[] = [];
    let connected = 0;
    for (const pid of workers) process.kill(pid, 'SIGSTOP');
    try {
      for (let k = 0; k < total; k++) {
        const s = net.connect({ port, host: '127.0.0.1', localAddress: `127.0.0.${2 + (k % 19)}` });
        s.on('error', () => undefined);
        s.once('connect', () => (connected += 1));
        conns.push(s);
      }
      const until = Date.now() + 5000;
      while (connected < total && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    } finally {
      for (const pid of workers) process.kill(pid, 'SIGCONT');
      for (const s of conns) s.destroy();
    }
    expect(connected).toBe(total);
    // The workers serve on once they run again.
    expect((await fetch(`${url}/api/health`)).status).toBe(200);
  }, 30_000);

  it('puts the spare, started ahead, in the place of a killed worker, and it serves at once', async () => {
    const spareReady = await server.waitForLog((l) => l.msg === 'spare worker ready', 60_000, 'spare ready');
    const spare = Number(spareReady.worker);
    // The spare does not serve before it is needed.
    expect(server.logs.filter(isLive).map((l) => Number(l.worker))).not.toContain(spare);
    const victim = Number(server.logs.filter(isLive).at(-1)!.worker);
    const killedAt = Date.now();
    process.kill(victim, 'SIGKILL');
    const died = await server.waitForLog((l) => l.msg === 'worker died; a spare takes its place' && l.worker === victim, 10_000, 'spare promoted');
    expect(Number(died.spare)).toBe(spare);
    const serving = await server.waitForLog((l) => isLive(l) && Number(l.worker) === spare, 10_000, 'spare serving');
    console.log(`spare serving ${serving.time! - killedAt} ms after kill -9 of a worker`);
    // Started before the kill (not forked after it), and no replacement forked meanwhile.
    expect(spareReady.time!).toBeLessThan(killedAt);
    expect(server.logs.some((l) => l.msg === 'worker died; restarting it' && l.worker === victim)).toBe(false);
    // The dead worker's clients come back to the port and are served.
    const s = io(`${url}/dispatch`, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: await token('hq@demo.local') } });
    sockets.push(s);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('connect_error', reject);
    });
    expect(await s.timeout(10_000).emitWithAck('center:join', { centerId: 1 })).toMatchObject({ data: { centerId: 1 } });
  });

  it('runs the jobs on one worker, hands them over when it is killed, and restarts the worker', async () => {
    await server.waitForLog(() => owners().length >= 1, 15_000, 'a job owner');
    // Exactly one process owns the jobs (and runs the simulator) now.
    const active = activeOwners();
    expect(active).toHaveLength(1);
    const owner = owners().filter((l) => l.pid === active[0]).at(-1)!;
    const killedAt = Date.now();
    process.kill(owner.pid!, 'SIGKILL');
    const next = await server.waitForLog((l) => l.msg === 'this process now runs the cluster jobs' && l.pid !== owner.pid && (l.time ?? 0) >= killedAt, 15_000, 'takeover');
    const takeoverMs = next.time! - killedAt;
    const restarted = await server.waitForLog((l) => isLive(l) && (l.time ?? 0) >= killedAt, 60_000, 'restarted worker');
    const restartMs = restarted.time! - killedAt;
    console.log(`${redis ? 'redis lease' : 'primary-assigned'}: jobs taken over ${takeoverMs} ms after kill -9 of the owner; worker back ${restartMs} ms after it`);
    // Within one lease (plus one try) with Redis; at once when the primary sees the exit.
    expect(takeoverMs).toBeLessThan(redis ? 3000 + 1500 : 1000);
    // Still one simulator running: the new owner starts it (its log line may arrive a moment after
    // the takeover's), and the restarted worker does not start another.
    await server.waitForLog((l) => l.msg === 'traffic simulator on' && l.pid === next.pid && (l.time ?? 0) >= killedAt, 5000, 'simulator on the new owner');
    const simulatorsOn = server.logs.filter((l) => l.msg === 'traffic simulator on' && (l.time ?? 0) >= killedAt);
    expect(simulatorsOn.map((l) => l.pid)).toEqual([next.pid]);
    const health = await fetch(`${url}/api/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', reasons: [] });
  });

  it('sends new connections to ready workers only, not to the one still starting after a crash', async () => {
    // Before, least-connection routing picked the freshly forked replacement (no clients yet) for
    // every new session: the crashed worker's reconnecting clients waited for it to boot.
    const hq = await token('hq@demo.local');
    const victim = Number(server.logs.filter(isLive).at(-1)!.worker);
    const killedAt = Date.now();
    process.kill(victim, 'SIGKILL');
    const died = await server.waitForLog((l) => l.msg === 'worker died; restarting it' && l.worker === victim, 10_000, 'restart scheduled');
    // The replacement is forked after the restart delay; connect while it boots.
    await new Promise((r) => setTimeout(r, Number(died.restartInMs) + 150));
    const startedAt = Date.now();
    const connectedAt = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const s = io(`${url}/dispatch`, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: hq } });
        sockets.push(s);
        await new Promise<void>((resolve, reject) => {
          s.once('connect', () => resolve());
          s.once('connect_error', reject);
        });
        await s.timeout(10_000).emitWithAck('center:join', { centerId: 1 });
        return Date.now();
      }),
    );
    const replacement = await server.waitForLog((l) => isLive(l) && (l.time ?? 0) >= killedAt, 60_000, 'replacement ready');
    // The replacement was still starting when the clients came (or this test proves nothing),
    // and every client was answered, by the surviving worker, before the replacement was ready.
    expect(replacement.time!).toBeGreaterThan(startedAt);
    expect(Math.max(...connectedAt)).toBeLessThan(replacement.time!);
  }, 90_000);

  it('stops every process on SIGTERM and exits 0', async () => {
    const started = Date.now();
    server.child.kill('SIGTERM');
    const code = await Promise.race([server.exited, new Promise((r) => setTimeout(() => r('still running 20 s after SIGTERM'), 20_000))]);
    if (code !== 0) console.log(JSON.stringify(server.logs.slice(-12)), server.stderr().slice(-2000));
    expect(code).toBe(0);
    console.log(`cluster stopped ${Date.now() - started} ms after SIGTERM`);
    expect(server.logs.filter((l) => l.msg === 'stopped').length).toBeGreaterThanOrEqual(2);
  });
});

describe('WORKERS=2 with a connection cap', () => {
  let dispose: () => Promise<void>;
  let server: ServerProcess;
  let port: number;
  const CAP = 60;

  beforeAll(async () => {
    const opened = await postgres.open();
    dispose = opened.dispose;
    const u = new URL(TEST_PG_URL);
    u.pathname = `/${(await opened.db.prisma.$queryRaw<{ d: string }[]>`SELECT current_database() AS d`)[0]!.d}`;
    server = startServerProcess({ WORKERS: '2', DATABASE_URL: u.toString(), MAX_CONNECTIONS: String(CAP), SESSION_SECRET: 'workers-cap-secret-0123456789abcdef' });
    const listening = await server.waitForLog((l) => l.msg === 'cluster listening', 60_000, 'cluster listening');
    port = Number(listening.port);
    await server.waitForLog(() => server.logs.filter((l) => l.msg === 'worker ready').length >= 2, 60_000, 'two workers ready');
  });
  afterAll(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    await dispose?.();
  });

  /** A raw connection, held; `answered` sends one request and resolves with the status line, or rejects if the server closes it first. */
  const open = (k: number) =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', localAddress: `127.0.0.${2 + (k % 19)}` }, () => resolve(s));
      s.once('error', reject);
    });
  const answered = (s: net.Socket) =>
    new Promise<string>((resolve, reject) => {
      let text = '';
      s.on('data', (b: Buffer) => {
        text += b.toString('latin1');
        if (text.includes('\r\n')) resolve(text.slice(0, text.indexOf('\r\n')));
      });
      s.once('close', () => reject(new Error('closed by the server without an answer')));
      s.write('GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n');
    });

  it('leaves the port to the other worker while full, and takes connections again once some have gone', async () => {
    const [a, b] = server.logs.filter((l) => l.msg === 'worker ready').map((l) => Number(l.worker)) as [number, number];
    const held: net.Socket[] = [];
    const frozen = new Set<number>();
    const freeze = (pid: number) => (process.kill(pid, 'SIGSTOP'), frozen.add(pid));
    const thaw = (pid: number) => (process.kill(pid, 'SIGCONT'), frozen.delete(pid));
    try {
      // Worker b frozen: worker a takes every connection up to its cap, then stops accepting.
      freeze(b);
      for (let k = 0; k < CAP; k++) held.push(await open(k));
      await server.waitForLog((l) => l.msg === 'connection cap reached: not accepting until some connections go' && l.pid === a, 10_000, 'worker a full');
      // More clients: the kernel completes them and holds them for a worker that accepts. A full
      // worker still accepting would take them only to close them.
      const later = await Promise.all(Array.from({ length: 20 }, (_, k) => open(CAP + k)));
      held.push(...later);
      thaw(b);
      const lines = await Promise.all(later.map(answered));
      expect(lines.every((l) => l.startsWith('HTTP/1.1 200'))).toBe(true);
      // Worker a loses some connections and accepts again: with b frozen, new clients are a's.
      for (const s of held.splice(0, 10)) s.destroy();
      await server.waitForLog((l) => l.msg === 'accepting connections again' && l.pid === a, 10_000, 'worker a accepting again');
      freeze(b);
      const again = await Promise.all(Array.from({ length: 3 }, (_, k) => open(200 + k)));
      held.push(...again);
      expect((await Promise.all(again.map(answered))).every((l) => l.startsWith('HTTP/1.1 200'))).toBe(true);
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
      for (const s of held) s.destroy();
    }
  }, 60_000);
});

