import { ACTIVE_STATUSES, rooms, statusCode, type DeliverySnapshot } from '../../protocol';
import type { Db } from '../db/database';
import type { Logger } from '../logger';
import type { DispatchNamespace } from '../realtime/types';
import type { PeriodLock } from '../jobs/lock';
import { createPeriodicJob } from '../jobs/periodic';

export interface SnapshotJobOptions {
  db: Db;
  dispatch: DispatchNamespace;
  lock: PeriodLock;
  logger: Logger;
  intervalMs: number;
  now?: () => number;
  onRun?: (stats: SnapshotRunStats) => void;
}

export interface SnapshotRunStats {
  period: number;
  centers: number;
  rows: number;
  bytes: number;
  ms: number;
}

/** Read one center's digest: active deliveries plus everything changed in the last two periods. */
export async function readSnapshot(db: Db, centerId: number, asOf: number, intervalMs: number): Promise<DeliverySnapshot> {
  const since = asOf - 2 * intervalMs;
  const rows = await db.delivery.findMany({
    where: { centerId, OR: [{ status: { in: [...ACTIVE_STATUSES] } }, { modDate: { gte: new Date(since) } }] },
    select: { deliverySeq: true, modDate: true, version: true, status: true },
    orderBy: { deliverySeq: 'asc' },
  });
  return { centerId, asOf, since, rows: rows.map((r) => [r.deliverySeq, r.modDate.getTime(), r.version, statusCode(r.status)]) };
}

/**
 * The safety net against lost events: every interval, exactly one process (by the period lock)
 * reads each center's digest once and broadcasts it to that center's room and to HQ. Clients
 * compare and fetch only what differs, with the same merge rule as for events.
 */
export function createSnapshotJob(opts: SnapshotJobOptions) {
  const now = opts.now ?? (() => Date.now());

  /** Read and broadcast every center's digest now. */
  async function broadcast(period: number): Promise<SnapshotRunStats> {
    const started = now();
    const centers = await opts.db.center.findMany({ select: { id: true } });
    let rows = 0;
    let bytes = 0;
    for (const { id } of centers) {
      const snap = await readSnapshot(opts.db, id, now(), opts.intervalMs);
      rows += snap.rows.length;
      bytes += Buffer.byteLength(JSON.stringify(snap));
      opts.dispatch.to([rooms.center(id), rooms.allCenters()]).emit('deliveries:snapshot', snap);
    }
    const stats = { period, centers: centers.length, rows, bytes, ms: now() - started };
    opts.logger.debug(stats, 'snapshot broadcast');
    opts.onRun?.(stats);
    return stats;
  }

  const job = createPeriodicJob({ name: 'snapshot', intervalMs: opts.intervalMs, lock: opts.lock, logger: opts.logger, run: broadcast, now });

  return {
    /** Run now, outside the schedule and its lock (operators and tests). */
    runOnce: () => broadcast(Math.floor(now() / opts.intervalMs)),
    start: job.start,
    stop: job.stop,
  };
}
export type SnapshotJob = ReturnType<typeof createSnapshotJob>;
