import { randomUUID } from 'node:crypto';
import { ALERT_KINDS, type AlertKind, type AlertRecord } from '../../protocol';
import type { Db } from '../db/database';
import type { Logger } from '../logger';
import type { NodeRegistry } from './node-registry';
import type { OpsMetrics } from './ops.metrics';
import type { WebhookSender } from './webhook';

/** Alert history in the database (table "Alert"). */
export function createAlertRepository(db: Db) {
  const toRecord = (a: { id: string; kind: string; subject: string; message: string; raisedAt: Date; resolvedAt: Date | null }): AlertRecord => ({
    id: a.id,
    kind: (ALERT_KINDS as readonly string[]).includes(a.kind) ? (a.kind as AlertKind) : 'node_down',
    subject: a.subject,
    message: a.message,
    raisedAt: a.raisedAt.toISOString(),
    resolvedAt: a.resolvedAt?.toISOString() ?? null,
  });
  return {
    async save(a: AlertRecord): Promise<void> {
      const data = { kind: a.kind, subject: a.subject, message: a.message, raisedAt: new Date(a.raisedAt), resolvedAt: a.resolvedAt ? new Date(a.resolvedAt) : null };
      await db.alert.upsert({ where: { id: a.id }, create: { id: a.id, ...data }, update: data });
    },
    async active(): Promise<AlertRecord[]> {
      return (await db.alert.findMany({ where: { resolvedAt: null }, orderBy: { raisedAt: 'asc' } })).map(toRecord);
    },
    async recent(limit = 50): Promise<AlertRecord[]> {
      return (await db.alert.findMany({ orderBy: { raisedAt: 'desc' }, take: limit })).map(toRecord);
    },
  };
}
export type AlertRepository = ReturnType<typeof createAlertRepository>;

export interface AlertEvaluatorOptions {
  nodeId: string;
  registry: NodeRegistry;
  repo: AlertRepository;
  logger: Logger;
  metrics: OpsMetrics;
  /** True when the cluster shares Redis: the lease decides who evaluates, and Redis is checked. */
  clustered: boolean;
  checkDatabase: () => Promise<unknown>;
  checkRedis?: () => Promise<unknown>;
  webhook?: WebhookSender;
  /** Called for every raise and resolve (the /monitor push). */
  onChange: (alert: AlertRecord) => void;
  /** Extra work for the one evaluating node each tick (the presence sweep). */
  housekeeping?: () => Promise<unknown>;
  leaseMs: number;
  nodeDownMs: number;
  /** A node silent this long is forgotten (its node_down alert resolves). */
  forgetMs: number;
  lagMs: number;
  /** Consecutive reports above (or back under) `lagMs` before the lag alert is raised (or resolved); default 2. */
  lagReports?: number;
  checkTimeoutMs?: number;
  now?: () => number;
}

interface Condition {
  kind: AlertKind;
  subject: string;
  message: string;
}
const keyOf = (c: { kind: AlertKind; subject: string }) => `${c.kind}:${c.subject}`;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });
}

/**
 * The alert evaluator. Every node ticks; in a cluster only the holder of the Redis lease
 * evaluates (without Redis the single process does). It raises an alert when a condition starts
 * and resolves it when the condition ends: node down (no report within `nodeDownMs`), Redis down,
 * database down, event-loop lag p99 above `lagMs`. Each change is written to the history table
 * (kept and retried while the database is down), shared with every node for /monitor, and sent to
 * the webhook. A node that becomes the evaluator takes over the active alerts from the database.
 */
export function createAlertEvaluator(opts: AlertEvaluatorOptions) {
  const now = opts.now ?? Date.now;
  const timeout = opts.checkTimeoutMs ?? 3000;
  let leader = false;
  let active = new Map<string, AlertRecord>();
  /** History writes that failed (database down): retried every tick, in order. */
  const unsaved = new Map<string, AlertRecord>();
  let running: Promise<void> | undefined;
  /** Per node: the last report looked at and how many reports in a row were high / low. */
  const lagSeen = new Map<string, { reportedAt: string; high: number; low: number }>();
  const lagReports = opts.lagReports ?? 2;

  async function holdLease(): Promise<boolean> {
    if (!opts.clustered) return opts.registry.lease(opts.nodeId, opts.leaseMs);
    try {
      return await withTimeout(opts.registry.lease(opts.nodeId, opts.leaseMs), timeout, 'Redis');
    } catch {
      // Redis unreachable: nobody can take the lease, so whoever held it keeps evaluating.
      return leader;
    }
  }

  async function takeOver(): Promise<void> {
    let known: AlertRecord[];
    try {
      known = await withTimeout(opts.repo.active(), timeout, 'database');
    } catch {
      known = await opts.registry.activeAlerts().catch(() => []);
    }
    active = new Map(known.map((a) => [keyOf(a), a]));
  }

  async function conditions(): Promise<{ found: Condition[]; unknown: Set<AlertKind> }> {
    const found: Condition[] = [];
    const unknown = new Set<AlertKind>();
    let redisUp = true;
    if (opts.checkRedis) {
      try {
        await withTimeout(opts.checkRedis(), timeout, 'Redis');
      } catch (err) {
        redisUp = false;
        found.push({ kind: 'redis_down', subject: 'cluster', message: `Redis is unreachable: ${(err as Error).message}` });
      }
    }
    try {
      await withTimeout(opts.checkDatabase(), timeout, 'database');
    } catch (err) {
      found.push({ kind: 'database_down', subject: 'cluster', message: `The database is unreachable: ${(err as Error).message}` });
    }
    if (!redisUp) {
      // Node records live in Redis: without it nothing can be said about nodes; keep what is raised.
      unknown.add('node_down').add('event_loop_lag');
      return { found, unknown };
    }
    const t = now();
    for (const n of await opts.registry.nodes()) {
      const age = t - Date.parse(n.reportedAt);
      if (age >= opts.forgetMs) {
        await opts.registry.remove(n.nodeId);
        continue;
      }
      if (age >= opts.nodeDownMs) {
        found.push({ kind: 'node_down', subject: n.nodeId, message: `Node ${n.nodeId} (${n.host}, pid ${n.pid}) stopped reporting ${Math.round(age / 1000)} s ago` });
      } else {
        // A single slow report (a burst of connections, a deploy) is not an alert: it takes
        // `lagReports` in a row to raise, and as many good ones to resolve.
        const seen = lagSeen.get(n.nodeId) ?? { reportedAt: '', high: 0, low: 0 };
        if (seen.reportedAt !== n.reportedAt) {
          const high = n.lagP99Ms > opts.lagMs;
          lagSeen.set(n.nodeId, { reportedAt: n.reportedAt, high: high ? seen.high + 1 : 0, low: high ? 0 : seen.low + 1 });
        }
        const s = lagSeen.get(n.nodeId)!;
        const raised = active.has(keyOf({ kind: 'event_loop_lag', subject: n.nodeId }));
        if (s.high >= lagReports || (raised && s.low < lagReports)) {
          found.push({ kind: 'event_loop_lag', subject: n.nodeId, message: `Node ${n.nodeId}: event-loop lag p99 ${Math.round(n.lagP99Ms)} ms (limit ${opts.lagMs} ms)` });
        }
      }
    }
    return { found, unknown };
  }

  async function persist(a: AlertRecord): Promise<void> {
    unsaved.set(a.id, a);
    for (const [id, rec] of [...unsaved]) {
      try {
        await withTimeout(opts.repo.save(rec), timeout, 'database');
        unsaved.delete(id);
      } catch {
        return; // database down: kept for the next tick
      }
    }
  }

  function changed(a: AlertRecord) {
    opts.onChange(a);
    void opts.webhook?.send({ status: a.resolvedAt ? 'resolved' : 'firing', alert: a, evaluator: opts.nodeId, sentAt: new Date(now()).toISOString() });
    opts.logger[a.resolvedAt ? 'info' : 'warn']({ alert: a.kind, subject: a.subject }, a.resolvedAt ? 'alert resolved' : `alert: ${a.message}`);
  }

  async function evaluate(): Promise<void> {
    const wasLeader = leader;
    leader = await holdLease();
    if (!leader) return;
    if (!wasLeader) await takeOver();
    const { found, unknown } = await conditions();
    const t = new Date(now()).toISOString();
    const seen = new Set<string>();
    for (const c of found) {
      const key = keyOf(c);
      seen.add(key);
      if (active.has(key)) continue;
      const rec: AlertRecord = { id: randomUUID(), kind: c.kind, subject: c.subject, message: c.message, raisedAt: t, resolvedAt: null };
      active.set(key, rec);
      changed(rec);
      await persist(rec);
    }
    for (const [key, rec] of [...active]) {
      if (seen.has(key) || unknown.has(rec.kind)) continue;
      active.delete(key);
      const done = { ...rec, resolvedAt: t };
      changed(done);
      await persist(done);
    }
    if (unsaved.size) await persist([...unsaved.values()][0]!);
    const list = [...active.values()];
    await opts.registry.setActiveAlerts(list).catch(() => undefined);
    for (const kind of ALERT_KINDS) opts.metrics.alertsActive.set({ kind }, list.filter((a) => a.kind === kind).length);
    await opts.housekeeping?.().catch((err: unknown) => opts.logger.warn({ err }, 'presence sweep failed'));
  }

  return {
    /** One evaluation; concurrent calls share the run in progress. */
    tick(): Promise<void> {
      running ??= evaluate()
        .catch((err: unknown) => opts.logger.error({ err }, 'alert evaluation failed'))
        .finally(() => {
          running = undefined;
        });
      return running;
    },
    isLeader: () => leader,
    active: () => [...active.values()],
    async stop(): Promise<void> {
      await running;
      if (leader) await opts.registry.release(opts.nodeId).catch(() => undefined);
      leader = false;
    },
  };
}
export type AlertEvaluator = ReturnType<typeof createAlertEvaluator>;
