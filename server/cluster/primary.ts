import cluster, { type Worker } from 'node:cluster';
import { createServer as createNetServer } from 'node:net';
import { setupPrimary as setupClusterAdapterPrimary } from '@socket.io/cluster-adapter';
import type { Config } from '../config';
import type { LeaderMessage } from '../jobs/leadership';
import type { Logger } from '../logger';
import { isIpcMessage, isPeerMessage, type PeersMessage } from './routing';

/** A worker tells the primary it serves (job ownership follows). */
export interface ReadyMessage {
  type: 'dd:ready';
}
export const READY: ReadyMessage = { type: 'dd:ready' };
const isReady = (m: unknown) => isIpcMessage(m, 'dd:ready');

/** A spare worker (started with SPARE_ENV set) tells the primary it could serve at once. */
export const SPARE_READY = { type: 'dd:spare-ready' } as const;
const isSpareReady = (m: unknown) => isIpcMessage(m, 'dd:spare-ready');
/** The primary tells a spare to start serving (it listens, then sends READY). */
export const PROMOTE = { type: 'dd:promote' } as const;
export const isPromote = (m: unknown) => isIpcMessage(m, 'dd:promote');
/** Set in a spare worker's environment. */
export const SPARE_ENV = 'DD_SPARE_WORKER';

export interface PrimaryOptions {
  config: Config;
  logger: Logger;
  /** How long workers get to stop on SIGTERM before they are killed. */
  stopTimeoutMs?: number;
}

/**
 * The allocator setting `npm start` gives the server (scripts/start.mjs sets the same): glibc then
 * keeps big buffers (a sign-in's 16 MB scrypt buffer) in their own mappings, given back when freed.
 * Cluster workers get it from here, and so do servers the benchmarks start.
 */
export const mallocEnv = (): Record<string, string> => ({ MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? '131072' });

/** A worker's exit code for a configuration it cannot run with: the primary stops rather than restart it. */
export const EXIT_BAD_CONFIG = 78;

/** Restart delay after the n-th unexpected exit within a minute: 0.5 s, 1 s, 2 s ... up to 30 s. */
export const restartDelayMs = (recentExits: number): number => Math.min(30_000, 500 * 2 ** Math.max(0, recentExits - 1));

/**
 * The node:cluster primary. The workers accept connections on the port themselves (SCHED_NONE:
 * the kernel gives each connection to one of them; see cluster/routing.ts), so connecting costs
 * the primary nothing. It tells the workers where to forward another worker's long-polling
 * requests (each worker's private port), relays the cluster adapter's messages between workers
 * when there is no Redis, puts a ready spare worker in a dead worker's place (or restarts it,
 * with backoff, when no spare is ready), tells one
 * worker to run the jobs when there is no Redis lease, and stops everything on SIGTERM/SIGINT.
 * Runs no application code itself.
 */
export async function runPrimary(opts: PrimaryOptions): Promise<{ stop: () => Promise<void> }> {
  const { config, logger } = opts;
  // The workers share the listening socket and each accepts from it. Node's default on Linux
  // (SCHED_RR) has the primary accept every connection and pass it to a worker over IPC: measured
  // through the primary, about a third of one process's connects per second on the same core.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  // The cluster adapter's messages carry binary payloads: IPC must carry Buffers as such
  // (structured clone), not as JSON.
  cluster.setupPrimary({ serialization: 'advanced' });
  if (!config.redisUrl) setupClusterAdapterPrimary();
  // The port is opened by the first worker that is ready; say at once, and once, if it cannot be.
  if (config.port !== 0) await probePort(config.port, config.host);

  let stopping = false;
  const exits: number[] = [];
  const ready = new Set<number>();
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

  /** Each worker's private port, for the polling requests other workers forward to it. */
  const peers = new Map<number, number>();
  const tellPeers = () => {
    const msg: PeersMessage = { type: 'dd:peers', peers: [...peers] };
    for (const w of Object.values(cluster.workers ?? {})) if (w?.isConnected()) w.send(msg);
  };

  /** Workers started as spares and not yet serving; those ready to, oldest first. */
  const spares = new Set<number>();
  const readySpares: number[] = [];

  const fork = (spare = false) => {
    const started = Date.now();
    const w = cluster.fork({ ...mallocEnv(), ...(spare ? { [SPARE_ENV]: '1' } : {}) });
    if (spare) spares.add(w.id);
    w.on('message', (m: unknown) => {
      if (isPeerMessage(m)) {
        peers.set(w.id, m.port);
        tellPeers();
        return;
      }
      if (isSpareReady(m)) {
        readySpares.push(w.id);
        logger.info({ worker: w.process.pid, ms: Date.now() - started }, 'spare worker ready');
        return;
      }
      if (!isReady(m)) return;
      ready.add(w.id);
      logger.info({ worker: w.process.pid, ms: Date.now() - started }, 'worker ready');
      assignJobs();
    });
    return w;
  };

  /** A worker (or a spare) started after `ms`, unless the cluster is stopping by then. */
  const forkLater = (ms: number, spare = false) => {
    setTimeout(() => {
      if (!stopping) fork(spare);
    }, ms).unref();
  };

  cluster.on('exit', (w: Worker, code: number | null, signal: string | null) => {
    ready.delete(w.id);
    const wasSpare = spares.delete(w.id);
    const readyAt = readySpares.indexOf(w.id);
    if (readyAt >= 0) readySpares.splice(readyAt, 1);
    if (owner === w.id) owner = undefined;
    if (stopping) return;
    if (peers.delete(w.id)) tellPeers();
    if (code === EXIT_BAD_CONFIG) {
      // Restarting cannot help (the port taken since the primary checked it, for one): stop.
      logger.fatal({ worker: w.process.pid }, 'a worker cannot start with this configuration; stopping the cluster');
      void stop().then(() => process.exit(1));
      return;
    }
    const now = Date.now();
    exits.push(now);
    while (exits.length && exits[0]! < now - 60_000) exits.shift();
    const delay = restartDelayMs(exits.length);
    if (wasSpare) {
      logger.error({ worker: w.process.pid, code, signal, restartInMs: delay }, 'spare worker died; starting another');
      forkLater(delay, true);
      return;
    }
    const spareId = readySpares.shift();
    const spare = spareId === undefined ? undefined : cluster.workers?.[spareId];
    if (spare?.isConnected()) {
      // Already started: it listens at once, and the dead worker's clients come back to it and to
      // the others. A worker's start (loading and compiling its modules, opening its pools) takes
      // a few seconds of a core, which the reconnect storm of those clients needs: the next spare
      // starts once the storm is over (SPARE_RESTART_MS).
      spares.delete(spare.id);
      spare.send(PROMOTE);
      assignJobs();
      const nextSpareInMs = Math.max(config.spareRestartMs, delay);
      logger.error({ worker: w.process.pid, code, signal, spare: spare.process.pid, nextSpareInMs }, 'worker died; a spare takes its place');
      forkLater(nextSpareInMs, true);
      return;
    }
    logger.error({ worker: w.process.pid, code, signal, restartInMs: delay }, 'worker died; restarting it');
    assignJobs();
    forkLater(delay);
  });

  cluster.once('listening', (_w: Worker, address: { port: number }) => {
    logger.info({ port: address.port, workers: config.workers, spares: config.spareWorkers, adapter: config.redisUrl ? 'redis-streams' : 'cluster' }, 'cluster listening');
  });
  for (let i = 0; i < config.workers; i++) fork();
  for (let i = 0; i < config.spareWorkers; i++) fork(true);

  async function stop() {
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
  }
  return { stop };
}

/** Fail with the listen error (EADDRINUSE, EACCES, EADDRNOTAVAIL) if this host and port cannot be listened on. */
function probePort(port: number, host: string | undefined): Promise<void> {
  const probe = createNetServer();
  return new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}
