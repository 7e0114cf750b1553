import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { createWorkerAdapter } from './realtime/worker-adapter';
import { createStreamsAdapter } from './realtime/streams-adapter';
import { SingleNodeAdapter } from './realtime/own-socket-emits';
import { keepWhatHandshakesRead } from './realtime/handshake';
import { Server as IoServer } from 'socket.io';
import { z } from 'zod';
import { NAMESPACES, rooms, shopsStatusRequestSchema, type ShopStatus } from '../protocol';
import { createApiKeyVerifier } from './auth/apikeys';
import { createAuthService } from './auth/auth.service';
import { registerAuthRoutes } from './auth/auth.routes';
import { createRevocations } from './auth/revocations';
import { createTokenSigner, TOKEN_TTL_SECONDS } from './auth/tokens';
import { createCentersService } from './centers/centers.service';
import { stopAcceptingWhenFull } from './cluster/when-full';
import { createChatService } from './chat/chat.service';
import type { Db } from './db/database';
import { registerDeliveryRoutes } from './deliveries/deliveries.routes';
import { createDeliveriesService } from './deliveries/deliveries.service';
import { applyHeaders, securityHeaders } from './http/headers';
import { clientIp, originAllowed } from './http/origin';
import { createFailureLimit, createRateLimit } from './http/rate-limit';
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
import { ConfigError, LISTEN_BACKLOG } from './config';
import type { ChangeNotifier } from './deliveries/deliveries.service';
import { registerDeviceRoutes } from './devices/devices.routes';
import { createDevicesService } from './devices/devices.service';
import { registerShopHandlers } from './devices/shops.handlers';
import { createMqttChannel, type MqttChannel, type MqttOptions } from './mqtt/channel';
import { createOps, type OpsOptions } from './ops/ops';
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
  /** The shop devices' MQTT channel (embedded broker or external one); absent: no MQTT. */
  mqtt?: MqttOptions;
  /** Seconds a shop's device has to acknowledge a new order (default 60). */
  deviceAckTimeoutSec?: number;
  /**
   * Browser origins allowed to use the API with the session cookie and to open sockets
   * (PUBLIC_URL + ALLOWED_ORIGINS). Empty: same-origin only (the request's own Host).
   */
  allowedOrigins?: readonly string[];
  /** Proxies in front of this server whose X-Forwarded-For is believed (0: none). */
  trustProxy?: number;
  /** Concurrent Socket.IO connections one client address may hold (0: no limit). */
  maxConnectionsPerIp?: number;
  /** Connections this process holds at most; one more is closed on arrival (0 or unset: no cap). */
  maxConnections?: number;
  /** Socket.IO heartbeat (default: a ping every 10 s, closed 10 s after an unanswered one). */
  ping?: { intervalMs: number; timeoutMs: number };
  /** Life of one session token (renewed while the session lives). */
  tokenTtlSeconds?: number;
  /** Development mode (looser CSP for React's dev tools). */
  dev?: boolean;
  /** Commands one socket may send per second (default 30). */
  commandsPerSecond?: number;
  /** Key prefix of this deployment's operations data in Redis (presence, nodes, alerts); default: the stream's, else `dd`. */
  redisPrefix?: string;
  /** Presence, node reports, alerts and their webhook. */
  ops?: OpsOptions;
}

/** How long a dropped client's session is kept for connection state recovery. */
const RECOVERY_WINDOW_MS = 2 * 60_000;
/** How long an idle keep-alive HTTP connection stays open: longer than nginx keeps one (60 s). */
export const KEEP_ALIVE_MS = 65_000;

export type Application = ReturnType<typeof createApplication>;

/**
 * Build the whole server on one http server: REST under /api, Prometheus at /metrics,
 * Socket.IO under /socket.io, and Next.js pages for everything else. Nothing listens until
 * `listen` is called.
 */
export function createApplication(deps: AppDeps) {
  const { db, logger } = deps;
  const metrics = createMetrics();
  const nodeId = deps.nodeId ?? `${os.hostname()}:${process.pid}`;
  metrics.registry.setDefaultLabels({ node: nodeId });
  const origins = { allowed: deps.allowedOrigins ?? [] };
  const trustProxy = deps.trustProxy ?? 0;
  const router = createRouter(logger, origins);
  const headers = securityHeaders(deps.dev ?? false);

  const httpServer = createServer((req, res) => {
    applyHeaders(res, headers);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      sendJson(res, 400, { error: { code: 'bad_request', message: 'Malformed request URL' } });
      return;
    }
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
  // An idle keep-alive connection stays open longer than the peers that reuse one keep it (nginx
  // keeps an upstream connection 60 s; Node's default closes it after 5 s). Otherwise the server
  // can close it just as a request arrives on it, and that request fails with a reset: a POST is
  // not retried, so nginx answers 502 and a client sees ECONNRESET.
  httpServer.keepAliveTimeout = KEEP_ALIVE_MS;

  if (deps.maxConnections) {
    httpServer.maxConnections = deps.maxConnections;
    httpServer.on('drop', () => metrics.connectionsRefused.inc());
  }
  // A full cluster worker leaves the shared port to the others (server/cluster/when-full.ts).
  const whenFull = deps.maxConnections && deps.clusterWorker ? stopAcceptingWhenFull(httpServer, deps.maxConnections, logger) : null;
  const io = new IoServer(httpServer, {
    serveClient: false,
    pingInterval: deps.ping?.intervalMs ?? 10_000,
    pingTimeout: deps.ping?.timeoutMs ?? 10_000,
    maxHttpBufferSize: 100_000,
    // First layer against lost events: a client back within 2 minutes gets what it missed. The
    // auth middleware still runs on a recovered connection, so an expired token is refused.
    connectionStateRecovery: { maxDisconnectionDuration: RECOVERY_WINDOW_MS, skipMiddlewares: false },
    // One process keeps room broadcasts for recovery, not each socket's greeting (own-socket-emits.ts).
    adapter: SingleNodeAdapter,
    // Browsers send Origin: only allowed origins may open a socket with the user's cookie. Native
    // clients send none and authenticate with `auth.token` or the cookie header. One client
    // address holds at most `maxConnectionsPerIp` connections.
    allowRequest: (req, cb) => {
      const origin = req.headers.origin;
      if (origin !== undefined && !originAllowed(req, origin, origins)) return cb('Origin not allowed', false);
      const max = deps.maxConnectionsPerIp ?? 0;
      if (max > 0 && (connectionsByIp.get(clientIp(req, trustProxy)) ?? 0) >= max) return cb('Too many connections from this address', false);
      cb(null, true);
    },
  });
  const connectionsByIp = new Map<string, number>();
  io.engine.on('connection', (raw: { request: IncomingMessage; on(event: 'close', fn: () => void): void }) => {
    const ip = clientIp(raw.request, trustProxy);
    // The connection keeps only what namespace handshakes read (server/realtime/handshake.ts).
    keepWhatHandshakesRead(raw.request);
    connectionsByIp.set(ip, (connectionsByIp.get(ip) ?? 0) + 1);
    // Engine.IO closes a connection once; `on` spares the wrapper objects `once` keeps per connection.
    raw.on('close', () => {
      const n = (connectionsByIp.get(ip) ?? 1) - 1;
      if (n <= 0) connectionsByIp.delete(ip);
      else connectionsByIp.set(ip, n);
    });
  });
  /** The in-memory adapter's class: any other adapter (Redis, cluster) reaches other nodes. */
  const singleNodeAdapter = io.of('/').adapter.constructor;
  const stream = deps.redisStream ?? 'dd:events';
  if (deps.redis) {
    io.adapter(createStreamsAdapter(deps.redis, { streamName: stream, sessionKeyPrefix: `${stream}:session:`, sessionTtlMs: RECOVERY_WINDOW_MS, maxLen: 100_000 }, logger));
  } else if (deps.clusterWorker) {
    // No session store across workers in this adapter: a reconnect to another worker resyncs from
    // its watermark instead of recovering (README, "Scaling out").
    io.adapter(createWorkerAdapter() as Parameters<typeof io.adapter>[0]);
  }
  // Each namespace has its own event maps; Socket.IO types `of()` with the server's, so narrow once here.
  const ns = {
    dispatch: io.of(NAMESPACES.dispatch),
    chat: io.of(NAMESPACES.chat),
    callcenter: io.of(NAMESPACES.callcenter),
    monitor: io.of(NAMESPACES.monitor),
  } as unknown as Namespaces;

  const publisher = createPublisher(ns, metrics, deps.lossInjector);
  const ops = createOps({
    ...deps.ops,
    nodeId,
    db,
    ...(deps.redis ? { redis: deps.redis } : {}),
    // Without an explicit prefix, operations data sits next to the events stream (`<prefix>:events`).
    redisPrefix: deps.redisPrefix ?? (deps.redisStream ? deps.redisStream.replace(/:events$/, '') : 'dd'),
    ns,
    metrics,
    logger,
  });
  // Committed delivery changes go to Socket.IO rooms and, for shops' orders, to MQTT topics; the
  // operations metrics time each one from commit to emit.
  let mqtt: MqttChannel | undefined;
  const notifier: ChangeNotifier = ops.timeEvents({
    ...publisher.notifier,
    deliveryChanged(row, audience) {
      publisher.notifier.deliveryChanged(row, audience);
      mqtt?.deliveryChanged(row);
    },
  });
  const nsList = [ns.dispatch, ns.chat, ns.callcenter, ns.monitor];
  const tokenTtl = deps.tokenTtlSeconds ?? TOKEN_TTL_SECONDS;
  const revocations = createRevocations(tokenTtl);
  /**
   * This node's sockets of ended sessions go at once (every node runs this for its own). Found by
   * the session id each socket keeps, not through a room per session: sessions end rarely, and a
   * room of its own would cost every connection a map entry, a set and a key for its whole life.
   */
  const endLocalSessions = (sids: string[]) => {
    const ended = new Set(sids);
    const going = nsList.flatMap((n) => [...n.sockets.values()].filter((s) => ended.has(s.data.sid)));
    for (const s of going) s.disconnect(true);
  };
  /** This node's sockets of a changed user reconnect, and are authorized again with fresh claims. */
  const refreshLocalUser = (userId: number) => {
    for (const n of nsList) n.in(rooms.user(userId)).local.disconnectSockets(true);
  };
  // Other nodes tell us through the adapter (Redis in a cluster); we tell them the same way.
  const revokedMessage = z.object({ sids: z.array(z.string().min(1).max(100)).max(10_000) });
  const staleMessage = z.object({ userId: z.number().int().positive(), atMs: z.number() });
  io.on('auth:revoked', (msg: unknown) => {
    const m = revokedMessage.safeParse(msg);
    if (!m.success) return;
    for (const sid of m.data.sids) revocations.revokeSession(sid);
    endLocalSessions(m.data.sids);
  });
  io.on('auth:stale', (msg: unknown) => {
    const m = staleMessage.safeParse(msg);
    if (!m.success) return;
    revocations.markUserStale(m.data.userId, m.data.atMs);
    refreshLocalUser(m.data.userId);
  });
  /** Tell the other nodes (only a cluster adapter has any; the in-memory one would just warn). */
  const tellOtherNodes = (event: string, msg: unknown) => {
    if (io.of('/').adapter.constructor !== singleNodeAdapter) io.serverSideEmit(event, msg);
  };
  const auth = createAuthService({
    db,
    signer: createTokenSigner(deps.sessionSecret, tokenTtl),
    revocations,
    events: {
      sessionsRevoked(_userId, sids) {
        endLocalSessions(sids);
        tellOtherNodes('auth:revoked', { sids });
      },
      userChanged(userId, atMs) {
        refreshLocalUser(userId);
        tellOtherNodes('auth:stale', { userId, atMs });
      },
    },
  });
  const keys = createApiKeyVerifier(db, logger);
  const centers = createCentersService(db);
  const deliveries = createDeliveriesService({
    db,
    notifier,
    ...(deps.deviceAckTimeoutSec !== undefined ? { deviceAckTimeoutSec: deps.deviceAckTimeoutSec } : {}),
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.listWindowHours !== undefined ? { listWindowHours: deps.listWindowHours } : {}),
  });
  const riders = createRidersService(db, (pos) => publisher.notifier.riderPosition(pos));
  const chat = createChatService(db, (msg) => publisher.notifier.chatMessage(msg));
  const orders = createOrdersService(db);
  const publish = createPublishService(db, publisher);
  const devices = createDevicesService({ db, ...(deps.now ? { now: deps.now } : {}) });
  const services = { auth, centers, deliveries, riders, chat, orders, publish, keys, devices };
  /** Dispatchers of the shop's center (and HQ) hear when its devices all go offline or come back. */
  const emitShopStatus = (s: ShopStatus) => ns.dispatch.to([rooms.center(s.centerId), rooms.allCenters()]).emit('shop:status', s);
  if (deps.mqtt) {
    mqtt = createMqttChannel(deps.mqtt, { httpServer, devices, deliveries, metrics, logger, onShopStatus: emitShopStatus });
  }

  const commandDeps = { logger, metrics };
  const secure = { auth, metrics, ...(deps.commandsPerSecond ? { commandsPerSecond: deps.commandsPerSecond } : {}) };
  secureNamespace(ns.dispatch, NAMESPACES.dispatch, secure);
  secureNamespace(ns.chat, NAMESPACES.chat, secure);
  secureNamespace(ns.callcenter, NAMESPACES.callcenter, secure);
  secureNamespace(ns.monitor, NAMESPACES.monitor, secure);
  registerDispatchHandlers(ns.dispatch, { ...commandDeps, centers, deliveries, riders });
  registerChatHandlers(ns.chat, { ...commandDeps, chat });
  registerCallcenterHandlers(ns.callcenter, { ...commandDeps, orders });
  registerShopHandlers(ns.dispatch, { ...commandDeps, devices, statusSchema: shopsStatusRequestSchema });
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
  // Devices whose heartbeat stopped (and no last will arrived) go offline, checked by one process.
  const deviceSweep = createPeriodicJob({
    name: 'device-liveness',
    intervalMs: 15_000,
    lock: periodLock,
    logger,
    run: async () => {
      for (const s of await devices.sweep()) emitShopStatus(s);
    },
  });
  if (deps.snapshotIntervalMs !== 0) {
    snapshot.start();
    retention.start();
    if (mqtt) deviceSweep.start();
  }
  if (ownLeadership) leadership.start();
  // While Redis was away this node's emits reached only its own clients (and other nodes' emits
  // never reached them): once it is back, every client of the cluster resyncs from its watermark.
  const redisWatch = deps.redis
    ? createRedisWatch({
        redis: deps.redis,
        probeKey: `${stream}:health:${nodeId}`,
        logger,
        onRecovered: () => ns.dispatch.emit('deliveries:resync_hint', { reason: 'redis' }),
      })
    : undefined;
  redisWatch?.start();
  const health = createHealth({ db, ...(redisWatch ? { redisWatch } : {}) });

  // Rate-limit counters live beside the deployment's stream when one is named (tests, several deployments on one Redis).
  const rlPrefix = deps.redisStream ? `${deps.redisStream}:rl` : undefined;
  const apiLimit = createRateLimit('api', deps.apiRatePerSecond ?? 50, 1, deps.redis, rlPrefix);
  const loginLimit = createFailureLimit('login', 10, 60, deps.redis, rlPrefix);
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
      deviceAckTimeoutSec: deps.deviceAckTimeoutSec ?? 60,
    }),
  );
  const session = { auth, secureCookies: deps.secureCookies ?? false };
  registerAuthRoutes(router, { ...session, loginLimit, clientIp: (ctx) => clientIp(ctx.req, trustProxy) });
  registerDeliveryRoutes(router, { session, centers, deliveries });
  registerRiderRoutes(router, { session, riders });
  registerOrderRoutes(router, { session, keys, orders, deliveries, apiLimit });
  registerPublishRoutes(router, { keys, publish, apiLimit, metrics });
  const channel = mqtt;
  registerDeviceRoutes(router, { session, devices, apiLimit, provision: channel ? (d) => channel.provision(d) : undefined });
  ops.start();

  let closing: Promise<void> | undefined;
  return {
    httpServer,
    io,
    ns,
    routes: router.list,
    services,
    metrics,
    snapshot,
    ops,
    leadership,
    nodeId,
    /** The shop devices' MQTT channel, when configured. */
    mqtt,
    /** Device liveness sweep (tests run it by hand). */
    deviceSweep,
    /** Listen on a port (0 picks a free one), then start the MQTT channel; resolves with the bound port. */
    async listen(port: number, host?: string): Promise<number> {
      // Sessions ended or changed recently must be refused by this node from its first request.
      await revocations.load(db);
      const bound = await new Promise<number>((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        httpServer.once('error', onError);
        httpServer.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
          httpServer.off('error', onError);
          whenFull?.listenedWith({ port, ...(host === undefined ? {} : { host }) });
          resolve((httpServer.address() as AddressInfo).port);
        });
      });
      try {
        await mqtt?.start();
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (deps.mqtt?.mode === 'embedded' && (e.code === 'EADDRINUSE' || e.code === 'EACCES')) {
          throw new ConfigError('MQTT_PORT', `cannot listen on port ${deps.mqtt.port} (${e.code}); set MQTT_PORT to a free port, or MQTT=off`);
        }
        if (deps.mqtt?.mode === 'external') throw new ConfigError('MQTT_URL', `the MQTT broker refused or is unreachable: ${e.message}`);
        throw err;
      }
      return bound;
    },
    /** Stop accepting, disconnect sockets, close the http server. The caller closes the database. */
    close(): Promise<void> {
      closing ??= (async () => {
        whenFull?.stop();
        stopMonitor();
        // Leave the cluster's presence and node records first, so no node-down alert follows a planned stop.
        await ops.stop().catch((err: unknown) => logger.warn({ err }, 'operations stop failed'));
        await new Promise<void>((resolve) => {
          revocations.stop();
          void snapshot.stop();
          void retention.stop();
          redisWatch?.stop();
          if (ownLeadership) void leadership.stop();
          void deviceSweep.stop();
          const mqttClosed = mqtt?.close().catch((err: unknown) => logger.warn({ err }, 'mqtt close failed')) ?? Promise.resolve();
          void io.close(() => void mqttClosed.then(() => resolve()));
          httpServer.closeAllConnections?.();
        });
      })();
      return closing;
    },
  };
}
