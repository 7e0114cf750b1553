import cluster, { type Worker } from 'node:cluster';
import { createServer } from 'node:http';
import { createServer as createNetServer, Socket, type AddressInfo } from 'node:net';
import { setupPrimary as setupClusterAdapterPrimary } from '@socket.io/cluster-adapter';
import { setupMaster as setupStickyPrimary } from '@socket.io/sticky';
import { LISTEN_BACKLOG, type Config } from '../config';
import type { LeaderMessage } from '../jobs/leadership';
import type { Logger } from '../logger';

/** A worker tells the primary it serves (sticky routing and job ownership follow). */
export interface ReadyMessage {
  type: 'dd:ready';
}
export const READY: ReadyMessage = { type: 'dd:ready' };
const isReady = (m: unknown) => typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'dd:ready';

export interface PrimaryOptions {
  config: Config;
  logger: Logger;
  /** How long workers get to stop on SIGTERM before they are killed. */
  stopTimeoutMs?: number;
}

/**
 * Node's handle passing (worker.send(message, socket)) leaves the primary's copy of the socket
 * reading, and discarding what it reads, until the worker acknowledges the handle. A client that
 * writes right after the worker's upgrade response (its namespace CONNECT, then its first
 * command) can lose those bytes to the primary: measured, about 1 in 1,000 connects of a burst
 * never got an answer. Stop reading before the hand-over; the kernel keeps the bytes for the worker.
 */
export function stopReadingOnHandOver(worker: Worker): void {
  const send = worker.send.bind(worker) as (...args: unknown[]) => boolean;
  (worker as { send: (...args: unknown[]) => boolean }).send = (...args: unknown[]) => {
    const handle = args[1];
    if (handle instanceof Socket) (handle as unknown as { _handle?: { readStop?: () => number } | null })._handle?.readStop?.();
    return send(...args);
  };
}

/**
 * Count a worker as taking no new connections until it is ready. The sticky module routes a new
 * session to the worker with the fewest clients (`worker.clientsCount`, which it keeps), and a
 * worker just forked to replace a dead one has none: it got every reconnect of the dead worker's
 * clients, held them while it booted, then had to answer them all at once while the others sat
 * idle. Until the worker says it serves, its count reads as if it were full; the module's own
 * increments and decrements still land on the real count.
 */
export function routeWhenReady(worker: Worker, isReady: () => boolean): void {
  const NOT_READY = 1e9;
  let count = 0;
  Object.defineProperty(worker, 'clientsCount', {
    configurable: true,
    enumerable: true,
    get: () => (isReady() ? count : count + NOT_READY),
    set: (v: number) => {
      count = isReady() ? v : v - NOT_READY;
    },
  });
}

/**
 * The allocator setting `npm start` gives the server (scripts/start.mjs sets the same): glibc then
 * keeps big buffers (a sign-in's 16 MB scrypt buffer) in their own mappings, given back when freed.
 * Cluster workers get it from here, and so do servers the benchmarks start.
 */
export const mallocEnv = (): Record<string, string> => ({ MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? '131072' });

/** Restart delay after the n-th unexpected exit within a minute: 0.5 s, 1 s, 2 s ... up to 30 s. */
export const restartDelayMs = (recentExits: number): number => Math.min(30_000, 500 * 2 ** Math.max(0, recentExits - 1));

/**
 * The node:cluster primary: owns the port and routes each connection to a worker (Socket.IO's
 * sticky module: a Socket.IO session always reaches the worker that holds it, so HTTP
 * long-polling works), relays the cluster adapter's messages between workers when there is no
 * Redis, restarts a worker that dies (with backoff), tells one worker to run the jobs when there
 * is no Redis lease, and stops everything on SIGTERM/SIGINT. Runs no application code itself.
 */
export async function runPrimary(opts: PrimaryOptions): Promise<{ stop: () => Promise<void> }> {
  const { config, logger } = opts;
  // The sticky module hands each connection's first bytes to the worker as a Buffer: IPC must
  // carry Buffers as such (structured clone), not as JSON.
  cluster.setupPrimary({ serialization: 'advanced' });
  // The sticky module reads each connection's first request from an HTTP server that never
  // listens itself: the port is owned by a plain TCP server that gives it connections only once
  // a worker is ready. Connections that come while none is (the cluster starting, or every
  // worker restarting) wait, unread: one handed to a worker still loading its code is lost (its
  // IPC message is emitted before anything listens) and the client hangs.
  const httpServer = createServer();
  // Every client connection the primary still holds (waiting for a worker, or relayed by the
  // sticky module; a worker that died leaves those unanswered), to close them on stop.
  const held = new Set<Socket>();
  const ready = new Set<number>();
  const waiting = new Set<Socket>();
  const accept = (socket: Socket) => {
    httpServer.emit('connection', socket);
    socket.resume();
  };
  const server = createNetServer({ pauseOnConnect: true }, (socket: Socket) => {
    held.add(socket);
    socket.once('close', () => {
      held.delete(socket);
      waiting.delete(socket);
    });
    if (ready.size > 0) accept(socket);
    else waiting.add(socket);
  });
  setupStickyPrimary(httpServer, { loadBalancingMethod: 'least-connection' });
  if (!config.redisUrl) setupClusterAdapterPrimary();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });

  let stopping = false;
  const exits: number[] = [];
  /** Without Redis the primary picks the job owner: the oldest ready worker. */
  let owner: number | undefined;
  const assignJobs = () => {
    if (config.redisUrl || stopping) return;
    if (owner !== undefined && cluster.workers?.[owner]) return;
    owner = [...ready].sort((a, b) => a - b)[0];
    if (owner === undefined) return;
    const msg: LeaderMessage = { type: 'dd:leader', leader: true };
    cluster.workers?.[owner]?.send(msg);
    logger.info({ worker: cluster.workers?.[owner]?.process.pid }, 'cluster jobs assigned to worker');
  };

  const fork = () => {
    const started = Date.now();
    const w = cluster.fork(mallocEnv());
    stopReadingOnHandOver(w);
    routeWhenReady(w, () => ready.has(w.id));
    w.on('message', (m: unknown) => {
      if (!isReady(m)) return;
      ready.add(w.id);
      logger.info({ worker: w.process.pid, ms: Date.now() - started }, 'worker ready');
      for (const socket of waiting) accept(socket);
      waiting.clear();
      assignJobs();
    });
    return w;
  };

  cluster.on('exit', (w: Worker, code: number | null, signal: string | null) => {
    ready.delete(w.id);
    if (owner === w.id) owner = undefined;
    if (stopping) return;
    const now = Date.now();
    exits.push(now);
    while (exits.length && exits[0]! < now - 60_000) exits.shift();
    const delay = restartDelayMs(exits.length);
    logger.error({ worker: w.process.pid, code, signal, restartInMs: delay }, 'worker died; restarting it');
    assignJobs();
    setTimeout(() => {
      if (!stopping) fork();
    }, delay).unref();
  });

  for (let i = 0; i < config.workers; i++) fork();
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, workers: config.workers, adapter: config.redisUrl ? 'redis-streams' : 'cluster' }, 'cluster primary listening');

  return {
    async stop() {
      if (stopping) return;
      stopping = true;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.isDead()) return resolve();
              const kill = setTimeout(() => w.process.kill('SIGKILL'), opts.stopTimeoutMs ?? 12_000);
              w.once('exit', () => {
                clearTimeout(kill);
                resolve();
              });
              w.process.kill('SIGTERM');
            }),
        ),
      );
      // Connections still held here (requests whose body was being relayed, clients retrying
      // while no worker is left) are closed rather than waited for.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of held) socket.destroy();
      await closed;
    },
  };
}
