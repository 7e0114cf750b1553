import type { Redis } from 'ioredis';
import { z } from 'zod';
import {
  NAMESPACES,
  presenceHeartbeatSchema,
  presenceListSchema,
  type AlertRecord,
  type DeliveryRow,
  type MonitorOverview,
  type NodeStats,
  type PresenceRole,
} from '../../protocol';
import { policy } from '../auth/policy';
import type { ChangeNotifier } from '../deliveries/deliveries.service';
import type { Db } from '../db/database';
import { AppError } from '../errors';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { observeEvents, shareCommands, socketCommand } from '../realtime/ack';
import type { DispatchSocket, MonitorSocket, Namespaces } from '../realtime/types';
import { createAlertEvaluator, createAlertRepository } from './alerts.service';
import { createMemoryNodeRegistry, createRedisNodeRegistry, HISTORY_MS } from './node-registry';
import { createNodeStatsCollector } from './node-stats';
import { createOpsMetrics } from './ops.metrics';
import { createPresence } from './presence.service';
import { createMemoryPresenceStore, createRedisPresenceStore } from './presence.store';
import { createWebhookSender } from './webhook';

/** Operations settings (validated from the environment in server/config.ts). */
export interface OpsOptions {
  /** How often each node reports its stats and the evaluator runs (default 2000 ms). */
  reportIntervalMs?: number;
  presenceTtlMs?: number;
  presenceSilentAfterMs?: number;
  /** Connections whose presence expiry one event-loop turn pushes forward (default 1000). */
  presenceRefreshBatch?: number;
  nodeDownMs?: number;
  forgetMs?: number;
  lagMs?: number;
  /** Reports in a row above / under `lagMs` to raise / resolve the lag alert (default 2). */
  lagReports?: number;
  webhookUrl?: string;
  webhookSecret?: string;
  webhookRetries?: number;
  webhookBaseDelayMs?: number;
}

export interface OpsDeps extends OpsOptions {
  nodeId: string;
  db: Db;
  redis?: Redis;
  /** Key prefix of this deployment in Redis. */
  redisPrefix: string;
  ns: Namespaces;
  metrics: Metrics;
  logger: Logger;
}

/** Server-to-server events of the /monitor namespace (through the adapter). */
interface ServerSide {
  serverSideEmitWithAck(event: string, ...args: unknown[]): Promise<unknown[]>;
  on(event: 'ops:ping', listener: (ack: (v: number) => void) => void): void;
}

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

/**
 * Operations: presence of the /dispatch clients, this node's stats record, the live /monitor feed,
 * alerts (one evaluator per cluster) and their webhook, and the Prometheus series behind them.
 */
export function createOps(deps: OpsDeps) {
  const { ns, logger, nodeId, redis } = deps;
  const intervalMs = deps.reportIntervalMs ?? 2000;
  const historyPoints = Math.ceil(HISTORY_MS / intervalMs);
  const opsMetrics = createOpsMetrics(deps.metrics.registry);
  const registry = redis ? createRedisNodeRegistry(redis, deps.redisPrefix) : createMemoryNodeRegistry();
  const presence = createPresence({
    store: redis ? createRedisPresenceStore(redis, deps.redisPrefix) : createMemoryPresenceStore(),
    dispatch: ns.dispatch,
    nodeId,
    ttlMs: deps.presenceTtlMs ?? 30_000,
    silentAfterMs: deps.presenceSilentAfterMs ?? 120_000,
    ...(deps.presenceRefreshBatch ? { refreshBatch: deps.presenceRefreshBatch } : {}),
    metrics: opsMetrics,
    logger,
  });
  const repo = createAlertRepository(deps.db);
  const gauges = new Map<string, () => number>();
  let eventsIn = 0;
  let adapterLagMs: number | null = redis ? null : 0;

  const all = { [NAMESPACES.dispatch]: ns.dispatch, [NAMESPACES.chat]: ns.chat, [NAMESPACES.callcenter]: ns.callcenter, [NAMESPACES.monitor]: ns.monitor };
  for (const [name, nsp] of Object.entries(all)) {
    // One counting listener per namespace, shared by its sockets.
    const received = () => {
      eventsIn += 1;
      opsMetrics.eventsReceived.inc({ namespace: name });
    };
    observeEvents(nsp, received);
  }

  const collector = createNodeStatsCollector({
    nodeId,
    sockets: () => Object.fromEntries(Object.entries(all).map(([name, nsp]) => [name, nsp.sockets.size])),
    eventsIn: () => eventsIn,
    eventsOut: async () => (await deps.metrics.emitted.get()).values.reduce((a, v) => a + v.value, 0),
    centers: () => presence.centerCounts(),
    adapterLagMs: () => adapterLagMs,
    gauges: () => Object.fromEntries([...gauges].map(([k, read]) => [k, read()])),
  });

  // Adapter lag: a round trip to every other node through the adapter; half the slowest.
  const monitorSide = ns.monitor as unknown as ServerSide;
  monitorSide.on('ops:ping', (ack) => ack(Date.now()));
  async function measureAdapterLag(): Promise<void> {
    if (!redis) return;
    const t0 = performance.now();
    try {
      const replies = await (ns.monitor.timeout(Math.max(500, intervalMs / 2)) as unknown as ServerSide).serverSideEmitWithAck('ops:ping');
      adapterLagMs = replies.length ? Math.round(((performance.now() - t0) / 2) * 10) / 10 : null;
    } catch {
      // A peer that did not answer in time (or just died): the lag is at least the timeout.
      adapterLagMs = Math.max(500, intervalMs / 2);
    }
    if (adapterLagMs !== null) opsMetrics.adapterLag.set(adapterLagMs / 1000);
  }

  const onAlert = (a: AlertRecord) => ns.monitor.emit('monitor:alert', a);
  const evaluator = createAlertEvaluator({
    nodeId,
    registry,
    repo,
    logger,
    metrics: opsMetrics,
    clustered: !!redis,
    checkDatabase: () => deps.db.$queryRaw`SELECT 1`,
    ...(redis ? { checkRedis: () => redis.ping() } : {}),
    ...(deps.webhookUrl
      ? {
          webhook: createWebhookSender({
            url: deps.webhookUrl,
            secret: deps.webhookSecret,
            logger,
            metrics: opsMetrics,
            ...(deps.webhookRetries !== undefined ? { retries: deps.webhookRetries } : {}),
            ...(deps.webhookBaseDelayMs !== undefined ? { baseDelayMs: deps.webhookBaseDelayMs } : {}),
          }),
        }
      : {}),
    onChange: onAlert,
    housekeeping: () => presence.sweep(),
    leaseMs: intervalMs * 3,
    nodeDownMs: deps.nodeDownMs ?? 10_000,
    forgetMs: deps.forgetMs ?? HISTORY_MS,
    lagMs: deps.lagMs ?? 500,
    ...(deps.lagReports !== undefined ? { lagReports: deps.lagReports } : {}),
  });

  function overview(nodes: NodeStats[], alerts: AlertRecord[]): MonitorOverview {
    const t = Date.now();
    const nodeDownMs = deps.nodeDownMs ?? 10_000;
    const views = nodes.map((n) => ({ ...n, down: t - Date.parse(n.reportedAt) >= nodeDownMs })).sort((a, b) => a.nodeId.localeCompare(b.nodeId));
    const totals = new Map<number, Partial<Record<PresenceRole, number>>>();
    for (const n of views) {
      if (n.down) continue;
      for (const [c, roles] of Object.entries(n.centers)) {
        const into = totals.get(Number(c)) ?? {};
        for (const [role, v] of Object.entries(roles) as [PresenceRole, number][]) into[role] = (into[role] ?? 0) + v;
        totals.set(Number(c), into);
      }
    }
    return {
      sentAt: t,
      reportIntervalMs: intervalMs,
      nodes: views,
      centers: [...totals].sort(([a], [b]) => a - b).map(([centerId, roles]) => ({ centerId, roles, total: sum(roles as Record<string, number>) })),
      alerts,
    };
  }

  let last: NodeStats | null = null;
  async function report(): Promise<void> {
    const stats = await collector.collect();
    last = stats;
    opsMetrics.lagP99.set(stats.lagP99Ms / 1000);
    await registry.report(stats, historyPoints);
    await presence.refresh();
    presence.checkSilent();
  }

  async function push(): Promise<void> {
    if (ns.monitor.sockets.size === 0) return;
    const [nodes, alerts] = await Promise.all([registry.nodes(), registry.activeAlerts()]);
    // Each node feeds its own monitor sockets (local), so no page gets an overview twice.
    ns.monitor.local.emit('monitor:overview', overview(nodes.length ? nodes : last ? [last] : [], alerts));
  }

  let timer: NodeJS.Timeout | undefined;
  let busy = false;
  const fail = (what: string) => (err: unknown) => logger.warn({ err: (err as Error).message }, `${what} failed`);
  async function cycle() {
    if (busy) return;
    busy = true;
    try {
      await report().catch(fail('node report'));
      await Promise.all([push().catch(fail('monitor push')), evaluator.tick(), measureAdapterLag()]);
    } finally {
      busy = false;
    }
  }

  // Commands shared by every socket of their namespace (see socketCommand).
  const cmd = { logger, metrics: deps.metrics };
  const heartbeat = socketCommand(cmd, 'presence:heartbeat', presenceHeartbeatSchema, (socket: DispatchSocket, hb) => Promise.resolve(presence.heartbeat(socket, hb)));
  const presenceList = socketCommand(cmd, 'presence:list', presenceListSchema, async (socket: DispatchSocket, { centerId }) => {
    if (!policy.seeCenter(socket.data.user, centerId)) throw new AppError('forbidden', 'You may not see this center');
    return { centerId, silentAfterSec: presence.silentAfterMs / 1000, entries: await presence.list(centerId) };
  });
  const history = socketCommand(cmd, 'monitor:history', z.unknown(), async () => {
    const [nodes, alerts] = await Promise.all([
      registry.history(),
      repo.recent(50).catch(() => registry.activeAlerts()),
    ]);
    return { nodes, alerts };
  });

  shareCommands(ns.dispatch, { 'presence:heartbeat': heartbeat, 'presence:list': presenceList });
  shareCommands(ns.monitor, { 'monitor:history': history });

  function registerMonitor(socket: MonitorSocket) {
    // The first overview at once, not one interval later.
    void Promise.all([registry.nodes(), registry.activeAlerts()])
      .then(([nodes, alerts]) => socket.emit('monitor:overview', overview(nodes.length ? nodes : last ? [last] : [], alerts)))
      .catch(fail('monitor push'));
  }

  ns.dispatch.on('connection', presence.connect);
  ns.monitor.on('connection', registerMonitor);

  return {
    presence,
    registry,
    evaluator,
    metrics: opsMetrics,
    /** Wrap the change notifier: each delivery emit records its age since commit. */
    timeEvents<N extends ChangeNotifier>(notifier: N): N {
      return {
        ...notifier,
        deliveryChanged(row: DeliveryRow, audience) {
          notifier.deliveryChanged(row, audience);
          opsMetrics.eventAge.observe(Math.max(0, Date.now() - Date.parse(row.modDate)) / 1000);
        },
      };
    },
    /** Add a number to this node's stats record and the monitor page (e.g. connected devices). */
    registerGauge(name: string, read: () => number) {
      gauges.set(name, read);
    },
    /** Run one report + push + evaluation now (tests). */
    cycle,
    start() {
      if (timer) return;
      void cycle();
      timer = setInterval(() => void cycle(), intervalMs);
      timer.unref();
    },
    /** Graceful stop: leave the cluster's records at once (no node-down alert for a planned stop). */
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await evaluator.stop();
      collector.stop();
      await presence.drain();
      await registry.remove(nodeId).catch(() => undefined);
    },
  };
}
export type Ops = ReturnType<typeof createOps>;
