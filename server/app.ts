import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { createAdapter as createClusterAdapter } from '@socket.io/cluster-adapter';
import { Server as IoServer } from 'socket.io';
import { NAMESPACES } from '../protocol';
import { createAuthService } from './auth/auth.service';
import { registerAuthRoutes } from './auth/auth.routes';
import { policy } from './auth/policy';
import { createTokenSigner } from './auth/tokens';
import { createCentersService } from './centers/centers.service';
import { createChatService } from './chat/chat.service';
import type { Db } from './db/database';
import { registerDeliveryRoutes } from './deliveries/deliveries.routes';
import { createDeliveriesService } from './deliveries/deliveries.service';
import { createRateLimit } from './http/rate-limit';
import { createRouter, sendJson } from './http/router';
import type { Logger } from './logger';
import { createMetrics } from './metrics';
import { registerOrderRoutes } from './orders/orders.routes';
import { createOrdersService } from './orders/orders.service';
import { registerPublishRoutes } from './publish/publish.routes';
import { createPublishService } from './publish/publish.service';
import { secureNamespace } from './realtime/auth.middleware';
import { registerCallcenterHandlers } from './realtime/callcenter.handlers';
import { registerChatHandlers } from './realtime/chat.handlers';
import { registerDispatchHandlers } from './realtime/dispatch.handlers';
import { registerMonitorHandlers } from './realtime/monitor.handlers';
import { createPublisher } from './realtime/publisher';
import type { Namespaces } from './realtime/types';
import { registerRiderRoutes } from './riders/riders.routes';
import { createRidersService } from './riders/riders.service';
import { createLocalLock, type PeriodLock } from './jobs/lock';
import { createPeriodicJob } from './jobs/periodic';
import { pruneIdempotencyRecords } from './jobs/retention';
import { createSnapshotJob } from './snapshot/snapshot.job';
import { createSoleLeadership, type Leadership } from './jobs/leadership';
import { createHealth, createRedisWatch } from './health';

/** Everything the application needs from outside; tests inject their own. */
export interface AppDeps {
  db: Db;
  logger: Logger;
  /** Signs session tokens. */
  sessionSecret: string;
  /** Next.js request handler for pages; absent in API-only tests (404 for non-API paths). */
  nextHandler?: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  now?: () => Date;
  listWindowHours?: number;
  /** Period of the snapshot broadcast (0 turns the timer off; `snapshot.runOnce()` still works). */
  snapshotIntervalMs?: number;
  /**
   * Shared state for a cluster: Socket.IO's Redis Streams adapter carries every emit (and the
   * connection-recovery sessions) to all nodes, and rate-limit counters are shared. Absent for a
   * single process (in-memory adapter).
   */
  redis?: Redis;
  /** Redis stream (and key prefix) of this deployment's events. */
  redisStream?: string;
  /** Decides which process runs each snapshot period (default: this one). */
  periodLock?: PeriodLock;
  /**
   * Which process of the cluster runs the jobs (snapshot, retention, simulator); the caller starts
   * it. Default: this process alone, started with the app.
   */
  leadership?: Leadership;
  /** This process's identity in logs, leases and health probes. */
  nodeId?: string;
  /**
   * A node:cluster worker without Redis: Socket.IO's cluster adapter carries emits between the
   * workers of this machine (through the primary). Ignored when `redis` is set.
   */
  clusterWorker?: boolean;
  /**
   * Fault injection for resilience tests only: socket ids that must miss a delivery event, as
   * if the packet were lost on the way.
   */
  lossInjector?: (event: string) => string[];
  /** Active deliveries older than this are late (shown highlighted). */
  lateAfterMinutes?: number;
  /** Requests per API key per second on the publish and order APIs. */
  apiRatePerSecond?: number;
  secureCookies?: boolean;
}

export type Application = ReturnType<typeof createApplication>;

/**
 * Build the whole server on one http server: REST under /api, Prometheus at /metrics,
 * Socket.IO under /socket.io, and Next.js pages for everything else. Nothing listens until
 * `listen` is called.
 */
export function createApplication(deps: AppDeps) {
  const { db, logger } = deps;
  const metrics = createMetrics();
  const router = createRouter(logger);

  const httpServer = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname.startsWith('/api/')) {
      void router.handle(req, res, url).then((handled) => {
        if (!handled) sendJson(res, 404, { error: { code: 'not_found', message: `No route ${url.pathname}` } });
      });
      return;
    }
    if (url.pathname === '/metrics') {
      void metrics.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text);
      });
      return;
    }
    if (deps.nextHandler) {
      deps.nextHandler(req, res).catch((err: unknown) => {
        logger.error({ err, path: url.pathname }, 'page render failed');
        if (!res.headersSent) res.writeHead(500).end('Internal error');
      });
      return;
    }
    sendJson(res, 404, { error: { code: 'not_found', message: 'Not found' } });
  });

  const io = new IoServer(httpServer, {
    serveClient: false,
    pingInterval: 10_000,
    pingTimeout: 10_000,
    maxHttpBufferSize: 100_000,
    // First layer against lost events: a client back within 2 minutes gets what it missed. The
    // auth middleware still runs on a recovered connection, so an expired token is refused.
    connectionStateRecovery: { maxDisconnectionDuration: 2 * 60_000, skipMiddlewares: false },
  });
  const stream = deps.redisStream ?? 'dd:events';
  const nodeId = deps.nodeId ?? `${os.hostname()}:${process.pid}`;
  if (deps.redis) {
    io.adapter(createAdapter(deps.redis, { streamName: stream, sessionKeyPrefix: `${stream}:session:`, maxLen: 100_000 }));
  } else if (deps.clusterWorker) {
    // No session store across workers in this adapter: a reconnect to another worker resyncs from
    // its watermark instead of recovering (README, "Scaling out").
    io.adapter(createClusterAdapter());
  }
  // Each namespace has its own event maps; Socket.IO types `of()` with the server's, so narrow once here.
  const ns = {
    dispatch: io.of(NAMESPACES.dispatch),
    chat: io.of(NAMESPACES.chat),
    callcenter: io.of(NAMESPACES.callcenter),
    monitor: io.of(NAMESPACES.monitor),
  } as unknown as Namespaces;

  const publisher = createPublisher(ns, metrics, deps.lossInjector);
  const auth = createAuthService(db, createTokenSigner(deps.sessionSecret));
  const centers = createCentersService(db);
  const deliveries = createDeliveriesService({
    db,
    notifier: publisher.notifier,
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.listWindowHours !== undefined ? { listWindowHours: deps.listWindowHours } : {}),
  });
  const riders = createRidersService(db, (pos) => publisher.notifier.riderPosition(pos));
  const chat = createChatService(db, (msg) => publisher.notifier.chatMessage(msg));
  const orders = createOrdersService(db);
  const publish = createPublishService(db, publisher);
  const services = { auth, centers, deliveries, riders, chat, orders, publish };

  const commandDeps = { logger, metrics };
  secureNamespace(ns.dispatch, NAMESPACES.dispatch, { auth, metrics });
  secureNamespace(ns.chat, NAMESPACES.chat, { auth, metrics });
  secureNamespace(ns.callcenter, NAMESPACES.callcenter, { auth, metrics });
  secureNamespace(ns.monitor, NAMESPACES.monitor, { auth, metrics }, policy.monitor);
  registerDispatchHandlers(ns.dispatch, { ...commandDeps, centers, deliveries, riders });
  registerChatHandlers(ns.chat, { ...commandDeps, chat });
  registerCallcenterHandlers(ns.callcenter, { ...commandDeps, orders });
  const stopMonitor = registerMonitorHandlers(ns.monitor, ns, commandDeps);
  const periodLock = deps.periodLock ?? createLocalLock();
  const ownLeadership = !deps.leadership;
  const leadership = deps.leadership ?? createSoleLeadership();
  const isLeader = () => leadership.isLeader();
  /** The period clients are told about and the job keeps (0 only stops the timer). */
  const snapshotIntervalMs = deps.snapshotIntervalMs || 120_000;
  const snapshot = createSnapshotJob({
    db,
    dispatch: ns.dispatch,
    lock: periodLock,
    logger,
    intervalMs: snapshotIntervalMs,
    leader: isLeader,
    onRun: (s) => {
      metrics.snapshotBytes.set(s.bytes);
      metrics.snapshotRuns.inc();
    },
  });
  // Idempotency records older than a day are pruned hourly, by one process.
  const retention = createPeriodicJob({
    name: 'retention',
    intervalMs: 3_600_000,
    lock: periodLock,
    leader: isLeader,
    logger,
    run: async () => {
      const pruned = await pruneIdempotencyRecords(db);
      if (pruned) logger.info({ pruned }, 'idempotency records pruned');
    },
  });
  if (deps.snapshotIntervalMs !== 0) {
    snapshot.start();
    retention.start();
  }
  if (ownLeadership) leadership.start();
  const redisWatch = deps.redis ? createRedisWatch({ redis: deps.redis, probeKey: `${stream}:health:${nodeId}`, logger }) : undefined;
  redisWatch?.start();
  const health = createHealth({ db, ...(redisWatch ? { redisWatch } : {}) });

  // Rate-limit counters live beside the deployment's stream when one is named (tests, several deployments on one Redis).
  const rlPrefix = deps.redisStream ? `${deps.redisStream}:rl` : undefined;
  const apiLimit = createRateLimit('api', deps.apiRatePerSecond ?? 50, 1, deps.redis, rlPrefix);
  const loginLimit = createRateLimit('login', 10, 60, deps.redis, rlPrefix);
  // 200 while this node can serve (also when only Redis is missing: it still serves its own
  // clients); 503 when its database does not answer, so a balancer sends clients elsewhere.
  router.get('/api/health', async () => {
    const { databaseOk, ...report } = await health();
    return { status: databaseOk ? 200 : 503, body: report, headers: { 'cache-control': 'no-store' } };
  });
  /** Settings the screens need; nothing secret. */
  router.get('/api/settings', () =>
    Promise.resolve({
      lateAfterMinutes: deps.lateAfterMinutes ?? 30,
      snapshotIntervalMs,
    }),
  );
  registerAuthRoutes(router, { auth, loginLimit, secureCookies: deps.secureCookies ?? false });
  registerDeliveryRoutes(router, { auth, centers, deliveries });
  registerRiderRoutes(router, { auth, riders });
  registerOrderRoutes(router, { db, auth, orders, deliveries, apiLimit });
  registerPublishRoutes(router, { db, publish, apiLimit, metrics });

  let closing: Promise<void> | undefined;
  return {
    httpServer,
    io,
    ns,
    services,
    metrics,
    snapshot,
    leadership,
    nodeId,
    /** Listen on a port (0 picks a free one); resolves with the bound port. */
    listen(port: number, host?: string): Promise<number> {
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        httpServer.once('error', onError);
        httpServer.listen(port, host, () => {
          httpServer.off('error', onError);
          resolve((httpServer.address() as AddressInfo).port);
        });
      });
    },
    /** Stop accepting, disconnect sockets, close the http server. The caller closes the database. */
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        stopMonitor();
        void snapshot.stop();
        void retention.stop();
        redisWatch?.stop();
        if (ownLeadership) void leadership.stop();
        void io.close(() => resolve());
        httpServer.closeAllConnections?.();
      });
      return closing;
    },
  };
}
